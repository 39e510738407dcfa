/**
 * Supervising server processes on this machine: spawn one with its output in a log
 * file, wait until it answers, tell whether a pid still runs, and stop it (SIGTERM,
 * then SIGKILL after a grace period), also when this process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import { mongo } from 'mongoose'

/** Servers started here listen on the loopback address only. */
export const HOST = '127.0.0.1'

/** How long a process gets to disappear after SIGKILL before `terminate` gives up. */
const KILL_WAIT_MS = 5_000

/** Starts `bin` with stdout and stderr going to `logFile` (truncated). The child does not keep this process alive. */
export function spawnServer (bin: string, args: string[], logFile: string, detached: boolean): ChildProcess {
  const fd = fs.openSync(logFile, 'w')
  try {
    const child = spawn(bin, args, { stdio: ['ignore', fd, fd], detached })
    // Spawn failures are reported through waitUntilReady; later errors (e.g. kill) are not fatal.
    child.on('error', () => {})
    // Neither a detached server nor one cleaned up on exit should keep this process alive.
    child.unref()
    return child
  } finally {
    fs.closeSync(fd)
  }
}

/** Resolves once the server accepts connections on `port` and answers `ping` at `uri`; rejects if it exits first or after `timeoutMs`. */
export async function waitUntilReady (child: ChildProcess, uri: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let exited: ((reason: Error) => void) | undefined
  const exit = new Promise<never>((_resolve, reject) => { exited = reject })
  exit.catch(() => {})
  const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
    exited?.(new Error(`it exited during start-up (${signal ?? `code ${code}`})`))
  }
  const onError = (err: Error): void => { exited?.(err) }
  child.once('exit', onExit)
  child.once('error', onError)
  try {
    // Cheap TCP probes first; the driver's server selection then confirms it speaks MongoDB.
    for (;;) {
      if (await Promise.race([acceptsConnection(HOST, port, 1000), exit])) break
      if (Date.now() > deadline) throw new Error(`no connection on ${HOST}:${port} after ${timeoutMs / 1000} s`)
      await Promise.race([delay(100), exit])
    }
    await Promise.race([ping(uri, Math.max(1000, deadline - Date.now())), exit])
  } finally {
    child.off('exit', onExit)
    child.off('error', onError)
  }
}

/** Answers once the server replies to `ping`; throws after `timeoutMs`. */
export async function ping (uri: string, timeoutMs: number): Promise<void> {
  const client = new mongo.MongoClient(uri, { serverSelectionTimeoutMS: timeoutMs, connectTimeoutMS: timeoutMs, directConnection: true })
  try {
    await client.connect()
    await client.db('admin').command({ ping: 1 })
  } finally {
    await client.close()
  }
}

/**
 * SIGTERM, then SIGKILL after `graceMs` (at once when `graceMs` is 0); resolves once the
 * process has exited. Takes a child of this process, or the pid of any other process
 * (e.g. a server started by an earlier run), which is then polled.
 */
export async function terminate (target: ChildProcess | number, graceMs: number): Promise<void> {
  if (typeof target === 'number') {
    if (!isAlive(target)) return
    const pid = target
    const kill = (signal: NodeJS.Signals): void => {
      try {
        process.kill(pid, signal)
      } catch {
        // gone meanwhile
      }
    }
    await signalUntilExited(kill, waitUntil(() => !isAlive(pid), `process ${pid} to exit`, graceMs + KILL_WAIT_MS), graceMs)
    return
  }
  const child = target
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
  child.ref()
  try {
    const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
    await signalUntilExited((signal) => { child.kill(signal) }, exited, graceMs)
  } finally {
    child.unref()
  }
}

async function signalUntilExited (kill: (signal: NodeJS.Signals) => void, exited: Promise<void>, graceMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  try {
    if (graceMs <= 0) {
      kill('SIGKILL')
    } else {
      kill('SIGTERM')
      timer = setTimeout(() => { kill('SIGKILL') }, graceMs)
    }
    await exited
  } finally {
    clearTimeout(timer)
  }
}

// Children this process started and must not leave behind, with what to clean up after them.
const owned = new Map<number, () => void>()
let exitHookInstalled = false

function onProcessExit (): void {
  for (const [pid, cleanUp] of owned) {
    try {
      process.kill(pid, 'SIGTERM')
    } catch {
      // already gone
    }
    cleanUp()
  }
  owned.clear()
}

/**
 * Sends `child` SIGTERM when this process exits, then runs `cleanUp` (synchronously,
 * as exit handlers must). Returns a function that cancels this, for a child stopped earlier.
 */
export function stopOnExit (child: ChildProcess, cleanUp: () => void): () => void {
  const pid = child.pid as number
  owned.set(pid, cleanUp)
  if (!exitHookInstalled) {
    process.on('exit', onProcessExit)
    exitHookInstalled = true
  }
  return () => { owned.delete(pid) }
}

/** True while `pid` runs. A zombie (exited, not yet reaped by its parent) counts as gone. */
export function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
  return procStat(pid)?.[0] !== 'Z'
}

/**
 * The fields of `/proc/<pid>/stat` after the command name (state first, then ppid, ...,
 * utime at index 11, stime at 12); undefined without /proc or once the process is gone.
 */
export function procStat (pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name may contain spaces and parentheses; the fields after it are fixed.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}

/** Resolves once `condition()` holds, checked every `intervalMs`; rejects after `timeoutMs`. */
export async function waitUntil (condition: () => boolean, what: string, timeoutMs: number, intervalMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`)
    await delay(intervalMs)
  }
}

/** A port that was free a moment ago on the loopback address. */
export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, HOST, () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => {
        if (port > 0) resolve(port)
        else reject(new Error('could not pick a free port'))
      })
    })
  })
}

export function acceptsConnection (host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port })
    const done = (ok: boolean): void => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => { done(false) })
    socket.once('connect', () => { done(true) })
    socket.once('error', () => { done(false) })
  })
}

/** The last non-empty lines of a log file (read from its last 8 KiB), for error messages; '' when unreadable. */
export function logTail (file: string, lines = 15): string {
  try {
    const fd = fs.openSync(file, 'r')
    try {
      const size = fs.fstatSync(fd).size
      const length = Math.min(size, 8192)
      const buf = Buffer.alloc(length)
      fs.readSync(fd, buf, 0, length, size - length)
      return buf.toString('utf8').split('\n').filter((l) => l.trim() !== '').slice(-lines).join('\n')
    } finally {
      fs.closeSync(fd)
    }
  } catch {
    return ''
  }
}
