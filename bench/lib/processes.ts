/**
 * Child processes of a benchmark run: every server under test runs in its own `node`
 * process, and every process started here is stopped at the end, on error and on SIGINT.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { HOST, logTail, procStat, terminate } from '../../src/lib/embedded-db/process'

/** Only loopback addresses are ever used. */
export { HOST, freePort } from '../../src/lib/embedded-db/process'

export interface SpawnOptions {
  /** Short name for logs and errors, e.g. `warden-verify`. */
  name: string
  /** The script to run with node (a compiled .js file). */
  script: string
  args?: string[]
  /** Extra node flags, e.g. `--cpu-prof`. */
  nodeArgs?: string[]
  env: NodeJS.ProcessEnv
  /** File that receives the child's stdout and stderr. */
  logFile: string
  /** Open an IPC channel (for the bench's own helper processes). */
  ipc?: boolean
  /** Working directory; default the current one. */
  cwd?: string
}

export class NodeChild {
  readonly name: string
  readonly child: ChildProcess
  readonly pid: number
  readonly logFile: string
  readonly spawnedAt: number
  private exited: Promise<void>

  constructor (opts: SpawnOptions) {
    this.name = opts.name
    this.logFile = opts.logFile
    fs.mkdirSync(path.dirname(opts.logFile), { recursive: true })
    const fd = fs.openSync(opts.logFile, 'a')
    try {
      this.spawnedAt = performance.now()
      this.child = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.script, ...(opts.args ?? [])], {
        env: opts.env,
        cwd: opts.cwd,
        stdio: opts.ipc === true ? ['ignore', fd, fd, 'ipc'] : ['ignore', fd, fd]
      })
    } finally {
      fs.closeSync(fd)
    }
    if (this.child.pid === undefined) throw new Error(`${opts.name}: could not spawn ${opts.script}`)
    this.pid = this.child.pid
    this.child.on('error', () => {})
    this.exited = new Promise((resolve) => { this.child.once('exit', () => { resolve() }) })
    live.add(this)
    void this.exited.then(() => { live.delete(this) })
  }

  get running (): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** Resolves when the process has exited (with whatever code). */
  whenExited (): Promise<void> {
    return this.exited
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop (graceMs = 5000): Promise<void> {
    return terminate(this.child, graceMs)
  }

  /** The last lines of the child's log, for error messages. */
  logTail (lines = 20): string {
    return logTail(this.logFile, lines)
  }
}

const live = new Set<NodeChild>()

export function spawnNode (opts: SpawnOptions): NodeChild {
  return new NodeChild(opts)
}

/** Stops every child still running (SIGTERM, SIGKILL after the grace period). */
export async function stopAll (graceMs = 3000): Promise<void> {
  await Promise.all([...live].map((c) => c.stop(graceMs)))
}

/** Synchronous last resort for process exit: SIGKILL whatever is left. */
export function killAllSync (): void {
  for (const c of live) {
    try {
      c.child.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
  live.clear()
}

export interface HttpResponse {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

const noKeepAlive = new http.Agent({ keepAlive: false })

/** One HTTP request to a loopback server, without keep-alive. Rejects on network errors and after `timeoutMs`. */
export function request (url: string, opts: { method?: string, headers?: Record<string, string>, body?: unknown, timeoutMs?: number } = {}): Promise<HttpResponse> {
  const target = new URL(url)
  if (target.hostname !== HOST && target.hostname !== 'localhost') {
    return Promise.reject(new Error(`refusing to send a request to ${target.hostname}: only loopback addresses are used`))
  }
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body)
  const headers: Record<string, string> = { ...opts.headers }
  if (payload !== undefined) {
    headers['content-type'] = 'application/json'
    headers['content-length'] = String(Buffer.byteLength(payload))
  }
  return new Promise((resolve, reject) => {
    const req = http.request(target, { method: opts.method ?? 'GET', headers, agent: noKeepAlive, timeout: opts.timeoutMs ?? 10_000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body }) })
      res.on('error', reject)
    })
    req.on('timeout', () => { req.destroy(new Error(`timed out after ${opts.timeoutMs ?? 10_000} ms`)) })
    req.on('error', reject)
    req.end(payload)
  })
}

/**
 * Polls `url` every `intervalMs` until it answers 200. Returns the milliseconds since the
 * child was spawned. Throws when the child exits or `timeoutMs` passes.
 */
export async function waitForOk (child: NodeChild, url: string, { intervalMs = 10, timeoutMs = 60_000 } = {}): Promise<number> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    if (!child.running) {
      throw new Error(`${child.name} exited before ${url} answered 200\n--- ${child.logFile} ---\n${child.logTail()}`)
    }
    try {
      const res = await request(url, { timeoutMs: 1000 })
      if (res.status === 200) return performance.now() - child.spawnedAt
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) {
      throw new Error(`${child.name}: ${url} did not answer 200 within ${timeoutMs / 1000} s\n--- ${child.logFile} ---\n${child.logTail()}`)
    }
    await delay(intervalMs)
  }
}

/** Resident set size of a process in bytes (VmRSS of /proc/<pid>/status); undefined when unavailable. */
export function rssBytes (pid: number): number | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)
    return m === null ? undefined : Number(m[1]) * 1024
  } catch {
    return undefined
  }
}

const CLOCK_TICKS = 100

/** User + system CPU time of a process in milliseconds (/proc/<pid>/stat); undefined when unavailable. */
export function cpuMs (pid: number): number | undefined {
  const fields = procStat(pid)
  if (fields === undefined) return undefined
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined
  return (utime + stime) * 1000 / CLOCK_TICKS
}

export interface MachineCpu {
  /** milliseconds of CPU time spent busy, summed over all CPUs */
  busyMs: number
  /** milliseconds stolen by the hypervisor, summed over all CPUs */
  stealMs: number
}

/** Machine-wide CPU counters from /proc/stat; undefined when unavailable. */
export function machineCpu (): MachineCpu | undefined {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number)
    const busy = user + nice + system + irq + softirq
    if (!Number.isFinite(busy)) return undefined
    return { busyMs: busy * 1000 / CLOCK_TICKS, stealMs: (steal ?? 0) * 1000 / CLOCK_TICKS }
  } catch {
    return undefined
  }
}

export function delay (ms: number): Promise<void> {
  return new Promise((resolve) => { setTimeout(resolve, ms) })
}

/** The first IPC message of a child spawned with `ipc: true`; rejects if it exits first or after `timeoutMs`. */
export function firstMessage<T> (child: NodeChild, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      void child.stop(1000)
      reject(new Error(`${child.name}: no result within ${timeoutMs / 1000} s`))
    }, timeoutMs)
    child.child.once('message', (message) => {
      clearTimeout(timer)
      resolve(message as T)
    })
    void child.whenExited().then(() => {
      clearTimeout(timer)
      reject(new Error(`${child.name} exited without a result\n--- ${child.logFile} ---\n${child.logTail()}`))
    })
  })
}
