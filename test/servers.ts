/**
 * Real processes for tests that need more than one Warden or a Redis server: each is started
 * on a free loopback port, awaited until it answers, and stopped by its own pid.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { freePort, startDatabase, type DatabaseHandle } from '../src/lib/embedded-db'
import type { Teardown } from './helper'

const ROOT = resolve(__dirname, '..')
/** The TypeScript loader this test runs under: servers run from source, no build needed. */
const LOADER = process.execArgv.filter((arg) => arg.includes('typescript'))

/** Resolves when a line of `child`'s output matches; rejects when it exits first or after `timeoutMs`. */
function waitForLine (child: ChildProcess, stream: 'stdout', pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const lines = createInterface({ input: child[stream]! })
    const done = (err?: Error, line?: string) => {
      clearTimeout(timer)
      child.off('exit', onExit)
      lines.close()
      if (err !== undefined) reject(err)
      else resolvePromise(line ?? '')
    }
    const timer = setTimeout(() => { done(new Error(`no line matching ${pattern} within ${timeoutMs} ms`)) }, timeoutMs)
    const onExit = (code: number | null) => { done(new Error(`process exited (${code}) before printing ${pattern}`)) }
    child.once('exit', onExit)
    lines.on('line', (line) => { if (pattern.test(line)) done(undefined, line) })
  })
}

/** Children still running when the test process exits (a crash, a timeout) are killed with it. */
const running = new Set<ChildProcess>()
process.once('exit', () => { for (const child of running) child.kill('SIGKILL') })

function track (child: ChildProcess): ChildProcess {
  running.add(child)
  child.once('exit', () => { running.delete(child) })
  return child
}

/** Stops a process started here (SIGTERM; SIGKILL after 10 s) and waits for its exit. */
export async function stop (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 10_000)
  await exited
  clearTimeout(timer)
}

export interface RunningServer {
  url: string
  child: ChildProcess
  /** The JSON log lines the process printed so far (its standard output), parsed. */
  logs: Array<Record<string, unknown>>
}

/**
 * A Warden server process (src/server.ts) with `env`, ready (GET /health/ready), stopped (SIGTERM)
 * after the test. On a free port unless `env.PORT` names one (to start it again where it was).
 * Its standard output (pino's JSON lines, at LOG_LEVEL `warn` unless `env` says otherwise) is kept
 * in `logs`.
 */
export async function startWarden (t: Teardown, env: Record<string, string>): Promise<RunningServer> {
  const port = env.PORT ?? String(await freePort())
  const child = track(spawn(process.execPath, [...LOADER, 'src/server.ts'], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', MAX_EVENT_LOOP_DELAY_MS: '0', ...env, PORT: port, HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'inherit']
  }))
  t.teardown(() => stop(child))
  const logs: Array<Record<string, unknown>> = []
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>)
    } catch {
      logs.push({ msg: line })
    }
  })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 90_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`warden exited (${child.exitCode}) before answering`)
    const ready = await fetch(`${url}/health/ready`).then((res) => res.status === 200, () => false)
    if (ready) return { url, child, logs }
    if (Date.now() > deadline) throw new Error('warden did not answer /health/ready within 90 s')
    await new Promise((resolve) => { setTimeout(resolve, 50) })
  }
}

export interface RedisServer {
  url: string
  /** Stops the server (SIGTERM) and waits for its exit; nothing is kept (no persistence). */
  stop(): Promise<void>
  /** Starts it again on the same port, empty, once it was stopped. */
  start(): Promise<void>
}

/** A redis-server on a free loopback port, without persistence, stopped after the test. */
export async function startRedis (t: Teardown): Promise<RedisServer> {
  const port = await freePort()
  let child: ChildProcess | undefined
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    async start () {
      if (child !== undefined && child.exitCode === null && child.signalCode === null) return
      const started = track(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
        stdio: ['ignore', 'pipe', 'inherit']
      }))
      child = started
      const failed = new Promise<never>((_resolve, reject) => {
        started.once('error', (err) => { reject(new Error(`redis-server could not be started: ${err.message}`)) })
      })
      await Promise.race([waitForLine(started, 'stdout', /Ready to accept connections/, 30_000), failed])
      started.stdout?.resume()
    },
    async stop () {
      if (child !== undefined) await stop(child)
    }
  }
  t.teardown(() => server.stop())
  await server.start()
  return server
}

export interface OwnDatabase {
  uri: string
  /** Stops the database server and waits for its exit. */
  stop(): Promise<void>
  /** Starts it again on the same port and data folder (what it held is kept). */
  start(): Promise<void>
}

/**
 * A database server of the test's own (FerretDB or mongod, as src/lib/embedded-db finds one) on a
 * free loopback port, in a temporary folder: stopping it disturbs no other test. Stopped, and its
 * folder removed, after the test.
 */
export async function startOwnDatabase (t: Teardown, dbName: string): Promise<OwnDatabase> {
  const dir = mkdtempSync(join(tmpdir(), `warden-${dbName}-`))
  const port = await freePort()
  const open = () => startDatabase({ dataDir: join(dir, 'db'), dbName, reuse: false, port })
  let handle: DatabaseHandle | undefined = await open()
  const database: OwnDatabase = {
    uri: handle.uri,
    async stop () {
      const running = handle
      handle = undefined
      await running?.stop()
    },
    async start () {
      handle ??= await open()
    }
  }
  t.teardown(async () => {
    await database.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  return database
}
