/**
 * Finds or starts a MongoDB-compatible database for local use, so that Warden
 * runs out of the box without a database server to set up.
 *
 * Order of preference:
 *   1. an explicit connection string (`MONGODB_URI`)                  -> 'external'
 *   2. a server already started by another Warden process for the same
 *      data folder, recorded in `<dataDir>/embedded.json`             -> 'shared'
 *   3. `mongod` on PATH                                               -> 'mongod'
 *   4. FerretDB with its SQLite backend, built with Go if needed      -> 'ferretdb'
 *   5. a `mongod` binary fetched by mongodb-memory-server-core        -> 'memory-server'
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { mongo } from 'mongoose'

export type DatabaseKind = 'external' | 'shared' | 'mongod' | 'ferretdb' | 'memory-server'

export interface DatabaseHandle {
  /** Connection string including the database name. */
  uri: string
  kind: DatabaseKind
  /** Process id of the database server when it runs on this machine. */
  pid?: number
  /** Stops the server if this handle started it; a no-op otherwise. */
  stop(): Promise<void>
}

export interface StartDatabaseOptions {
  /** Use this server instead of starting one; returned untouched. */
  uri?: string
  /** Folder for database files, logs and `embedded.json`. */
  dataDir: string
  /** Database name appended to the connection string. Default 'warden'. */
  dbName?: string
  /** The server outlives this process (it is not stopped on exit and not recorded in embedded.json). */
  detached?: boolean
  log?: (msg: string) => void
  /** Reuse a live server recorded in `<dataDir>/embedded.json`. Default true. */
  reuse?: boolean
  /** Listen on this port instead of a free one (e.g. to restart a server where its clients expect it). */
  port?: number
}

/** No database server is configured and none could be found, built or downloaded. */
export class DatabaseUnavailableError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'DatabaseUnavailableError'
  }
}

/** Contents of `<dataDir>/embedded.json`. */
interface StateFile {
  uri: string
  pid: number
  owner_pid: number
  kind: DatabaseKind
}

type ServerKind = 'mongod' | 'ferretdb' | 'memory-server'

const HOST = '127.0.0.1'
const STATE_FILE = 'embedded.json'
const READY_TIMEOUT_MS = 20_000
const STOP_GRACE_MS = 5_000
const BUILD_TIMEOUT_MS = 15 * 60_000
const DOWNLOAD_TIMEOUT_MS = 10 * 60_000
const DB_NAME_RE = /^[A-Za-z0-9_-]{1,63}$/

const UNAVAILABLE_MESSAGE = 'No MongoDB available: set MONGODB_URI, put mongod on PATH, or install Go (https://go.dev/dl/) so FerretDB can be built (scripts/install-ferretdb.sh)'

/** Hides the user name and password of a connection string, e.g. for logs. */
export function redactUri (uri: string): string {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(uri)
  if (scheme === null) return uri
  const rest = uri.slice(scheme[0].length)
  const queryAt = rest.indexOf('?')
  const authorityAndPath = queryAt === -1 ? rest : rest.slice(0, queryAt)
  const at = authorityAndPath.lastIndexOf('@')
  if (at === -1) return uri
  const userInfo = authorityAndPath.slice(0, at)
  const hidden = userInfo.includes(':') ? '***:***' : '***'
  return scheme[0] + hidden + rest.slice(at)
}

export async function startDatabase (opts: StartDatabaseOptions): Promise<DatabaseHandle> {
  const log = opts.log ?? (() => {})
  if (opts.uri !== undefined && opts.uri !== '') {
    return { uri: opts.uri, kind: 'external', stop: async () => {} }
  }

  const dbName = opts.dbName ?? 'warden'
  if (!DB_NAME_RE.test(dbName)) throw new Error(`Invalid database name ${JSON.stringify(dbName)}`)
  const dataDir = path.resolve(opts.dataDir)
  fs.mkdirSync(dataDir, { recursive: true })

  if (opts.reuse !== false) {
    const shared = await findSharedServer(dataDir, dbName, log)
    if (shared !== undefined) return shared
  }

  const notes: string[] = []
  const ctx: LaunchContext = { dataDir, dbName, detached: opts.detached === true, log, port: opts.port }

  const mongod = findExecutable('mongod')
  if (mongod !== undefined) {
    return await launch(ctx, 'mongod', mongod, mongodArgs(path.join(dataDir, 'mongodb')), path.join(dataDir, 'mongodb'))
  }

  const ferretdb = await findOrBuildFerretDB(log, notes)
  if (ferretdb !== undefined) {
    const dir = path.join(dataDir, 'ferretdb')
    return await launch(ctx, 'ferretdb', ferretdb, ferretdbArgs(dir), dir)
  }

  const downloaded = await memoryServerBinary(dataDir, log, notes)
  if (downloaded !== undefined) {
    const dir = path.join(dataDir, 'mongodb')
    return await launch(ctx, 'memory-server', downloaded, mongodArgs(dir), dir)
  }

  throw new DatabaseUnavailableError(notes.length > 0 ? `${UNAVAILABLE_MESSAGE} [${notes.join('; ')}]` : UNAVAILABLE_MESSAGE)
}

// ---------------------------------------------------------------------------
// Shared server (embedded.json)

async function findSharedServer (dataDir: string, dbName: string, log: (msg: string) => void): Promise<DatabaseHandle | undefined> {
  const file = path.join(dataDir, STATE_FILE)
  const state = readStateFile(file)
  if (state === undefined) return undefined
  const port = portOf(state.uri)
  if (isAlive(state.pid) && port !== undefined && await acceptsConnection(HOST, port, 2000)) {
    const uri = withDatabase(state.uri, dbName)
    log(`Using the ${state.kind} server (pid ${state.pid}) recorded in ${file}`)
    return { uri, kind: 'shared', pid: state.pid, stop: async () => {} }
  }
  log(`Removing stale ${file}`)
  removeStateFile(file, state.pid)
  return undefined
}

function readStateFile (file: string): StateFile | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch {
    return undefined
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined
  const s = parsed as Partial<StateFile>
  if (typeof s.uri !== 'string' || typeof s.pid !== 'number' || !Number.isInteger(s.pid) || s.pid <= 0) return undefined
  return { uri: s.uri, pid: s.pid, owner_pid: typeof s.owner_pid === 'number' ? s.owner_pid : 0, kind: s.kind ?? 'mongod' }
}

function writeStateFile (file: string, state: StateFile): void {
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n')
  fs.renameSync(tmp, file)
}

/** Removes the state file if it still describes server `pid`. Synchronous: also used on process exit. */
function removeStateFile (file: string, pid: number): void {
  const state = readStateFile(file)
  if (state !== undefined && state.pid !== pid) return
  try {
    fs.rmSync(file, { force: true })
  } catch {
    // nothing to clean up
  }
}

// ---------------------------------------------------------------------------
// Locating binaries

function findExecutable (name: string, extraDirs: string[] = []): string | undefined {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== '').concat(extraDirs)
  for (const dir of dirs) {
    const candidate = path.join(dir, name)
    try {
      fs.accessSync(candidate, fs.constants.X_OK)
      if (fs.statSync(candidate).isFile()) return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

/** Directories where `go install` puts binaries, without running go. */
function goBinDirs (): string[] {
  const dirs: string[] = []
  if (process.env.GOBIN !== undefined && process.env.GOBIN !== '') dirs.push(process.env.GOBIN)
  const gopath = process.env.GOPATH
  if (gopath !== undefined && gopath !== '') {
    for (const p of gopath.split(path.delimiter)) if (p !== '') dirs.push(path.join(p, 'bin'))
  } else {
    dirs.push(path.join(os.homedir(), 'go', 'bin'))
  }
  return dirs
}

/** `$(go env GOPATH)/bin` and `$(go env GOBIN)` as reported by go itself. */
function goEnvBinDirs (go: string): string[] {
  try {
    const out = execFileSync(go, ['env', 'GOBIN', 'GOPATH'], { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'ignore'] })
    const [gobin = '', gopath = ''] = out.split('\n').map((l) => l.trim())
    const dirs: string[] = []
    if (gobin !== '') dirs.push(gobin)
    for (const p of gopath.split(path.delimiter)) if (p !== '') dirs.push(path.join(p, 'bin'))
    return dirs
  } catch {
    return []
  }
}

/** A FerretDB binary built without version information panics at start-up; `--version` shows it. */
function ferretdbWorks (bin: string): boolean {
  try {
    const out = execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'ignore'] })
    return out.startsWith('version:')
  } catch {
    return false
  }
}

async function findOrBuildFerretDB (log: (msg: string) => void, notes: string[]): Promise<string | undefined> {
  const seen = new Set<string>()
  const usable = (bin: string | undefined): bin is string => {
    if (bin === undefined || seen.has(bin)) return false
    seen.add(bin)
    return ferretdbWorks(bin)
  }

  const found = findExecutable('ferretdb', goBinDirs())
  if (usable(found)) return found

  const go = findExecutable('go')
  if (go === undefined) return undefined
  const viaGoEnv = findExecutable('ferretdb', goEnvBinDirs(go))
  if (usable(viaGoEnv)) return viaGoEnv

  const script = installScriptPath()
  if (script === undefined) {
    notes.push('scripts/install-ferretdb.sh not found')
    return undefined
  }
  log('FerretDB not found: building it once with Go (about a minute the first time)')
  const result = await runInstallScript(script, log)
  if (!result.ok) {
    notes.push(`building FerretDB failed: ${result.message}`)
    log(`Building FerretDB failed: ${result.message}`)
    return undefined
  }
  if (usable(result.path)) {
    log(`Installed FerretDB at ${result.path}`)
    return result.path
  }
  notes.push(`the FerretDB built at ${result.path} does not start`)
  return undefined
}

/**
 * scripts/install-ferretdb.sh of this project, found by walking up from this file:
 * works from src/lib (tsx, ts-node) and from dist/src/lib after a build alike
 * (dist/ may hold a copy of package.json, so that alone does not mark the root).
 */
function installScriptPath (): string | undefined {
  let dir = __dirname
  for (;;) {
    const script = path.join(dir, 'scripts', 'install-ferretdb.sh')
    if (fs.existsSync(script)) return script
    const parent = path.dirname(dir)
    if (parent === dir) return undefined
    dir = parent
  }
}

type InstallResult = { ok: true, path: string } | { ok: false, message: string }

function runInstallScript (script: string, log: (msg: string) => void): Promise<InstallResult> {
  return new Promise((resolve) => {
    const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let lastError = ''
    let pending = ''
    const timer = setTimeout(() => { child.kill('SIGKILL') }, BUILD_TIMEOUT_MS)
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const line of lines) {
        if (line.trim() === '') continue
        lastError = line
        log(line.trim())
      }
    })
    child.on('error', (err) => {
      clearTimeout(timer)
      resolve({ ok: false, message: err.message })
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (pending.trim() !== '') lastError = pending.trim()
      const lines = stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '')
      const last = lines[lines.length - 1]
      if (code === 0 && last !== undefined) resolve({ ok: true, path: last })
      else resolve({ ok: false, message: lastError !== '' ? lastError : `install script exited with ${signal ?? code}` })
    })
  })
}

interface MemoryServerModule {
  MongoBinary: { getPath(opts?: Record<string, unknown>): Promise<string> }
}

/** mongodb-memory-server-core is an optional dependency: it downloads a mongod binary once. */
async function memoryServerBinary (dataDir: string, log: (msg: string) => void, notes: string[]): Promise<string | undefined> {
  let mod: MemoryServerModule
  try {
    const name = 'mongodb-memory-server-core'
    mod = await import(name) as MemoryServerModule
  } catch {
    return undefined
  }
  log('Fetching a mongod binary with mongodb-memory-server (once)')
  let timer: NodeJS.Timeout | undefined
  try {
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new Error('download timed out')) }, DOWNLOAD_TIMEOUT_MS)
      timer.unref()
    })
    const bin = await Promise.race([mod.MongoBinary.getPath(), timeout])
    fs.mkdirSync(path.join(dataDir, 'mongodb'), { recursive: true })
    return bin
  } catch (err) {
    const message = oneLine(err instanceof Error ? err.message : String(err))
    notes.push(`mongodb-memory-server: ${message}`)
    log(`mongodb-memory-server could not provide mongod: ${message}`)
    return undefined
  } finally {
    clearTimeout(timer)
  }
}

// ---------------------------------------------------------------------------
// Launching

interface LaunchContext {
  dataDir: string
  dbName: string
  detached: boolean
  log: (msg: string) => void
  port?: number
}

function mongodArgs (dbPath: string): (port: number) => string[] {
  return (port) => ['--dbpath', dbPath, '--bind_ip', HOST, '--port', String(port)]
}

function ferretdbArgs (dir: string): (port: number) => string[] {
  const sqliteUrl = pathToFileURL(dir + path.sep).href
  return (port) => [
    '--handler=sqlite',
    `--sqlite-url=${sqliteUrl}`,
    `--listen-addr=${HOST}:${port}`,
    '--debug-addr=-',
    '--telemetry=disable',
    '--log-level=warn',
    `--state-dir=${dir}`
  ]
}

const LABELS: Record<ServerKind, string> = { mongod: 'mongod', ferretdb: 'FerretDB', 'memory-server': 'mongod (mongodb-memory-server)' }

async function launch (ctx: LaunchContext, kind: ServerKind, bin: string, args: (port: number) => string[], workDir: string): Promise<DatabaseHandle> {
  fs.mkdirSync(workDir, { recursive: true })
  const logFile = path.join(workDir, kind === 'ferretdb' ? 'ferretdb.log' : 'mongod.log')
  const label = LABELS[kind]
  for (let attempt = 1; ; attempt++) {
    const port = ctx.port ?? await freePort()
    const child = spawnServer(bin, args(port), logFile, ctx.detached)
    const uri = `mongodb://${HOST}:${port}/${ctx.dbName}`
    try {
      await waitUntilReady(child, uri, port, READY_TIMEOUT_MS)
    } catch (err) {
      await terminate(child, 0)
      const tail = logTail(logFile)
      // The free port may have been taken between probing it and the server binding it.
      if (attempt < 3 && ctx.port === undefined && /address already in use/i.test(tail)) continue
      const reason = err instanceof Error ? err.message : String(err)
      throw new Error(`${label} did not start: ${reason}${tail !== '' ? `\n--- last lines of ${logFile} ---\n${tail}` : ''}`)
    }
    ctx.log(`Started ${label} (${bin}, pid ${child.pid}) at ${uri}, data in ${workDir}`)
    return own(ctx, kind, child, uri)
  }
}

function spawnServer (bin: string, args: string[], logFile: string, detached: boolean): ChildProcess {
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

async function waitUntilReady (child: ChildProcess, uri: string, port: number, timeoutMs: number): Promise<void> {
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
async function ping (uri: string, timeoutMs: number): Promise<void> {
  const client = new mongo.MongoClient(uri, { serverSelectionTimeoutMS: timeoutMs, connectTimeoutMS: timeoutMs, directConnection: true })
  try {
    await client.connect()
    await client.db('admin').command({ ping: 1 })
  } finally {
    await client.close()
  }
}

// Servers this process started and must not leave behind.
const owned = new Map<number, { child: ChildProcess, stateFile?: string }>()
let exitHookInstalled = false

function onProcessExit (): void {
  for (const [pid, entry] of owned) {
    try {
      process.kill(pid, 'SIGTERM')
    } catch {
      // already gone
    }
    if (entry.stateFile !== undefined) removeStateFile(entry.stateFile, pid)
  }
  owned.clear()
}

function own (ctx: LaunchContext, kind: ServerKind, child: ChildProcess, uri: string): DatabaseHandle {
  const pid = child.pid as number
  let stateFile: string | undefined
  if (!ctx.detached) {
    stateFile = path.join(ctx.dataDir, STATE_FILE)
    writeStateFile(stateFile, { uri, pid, owner_pid: process.pid, kind })
    owned.set(pid, { child, stateFile })
    if (!exitHookInstalled) {
      process.on('exit', onProcessExit)
      exitHookInstalled = true
    }
  }
  let stopping: Promise<void> | undefined
  return {
    uri,
    kind,
    pid,
    stop () {
      stopping ??= (async () => {
        await terminate(child, STOP_GRACE_MS)
        owned.delete(pid)
        if (stateFile !== undefined) removeStateFile(stateFile, pid)
      })()
      return stopping
    }
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
async function terminate (child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
  child.ref()
  const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
  let timer: NodeJS.Timeout | undefined
  try {
    if (graceMs <= 0) {
      child.kill('SIGKILL')
    } else {
      child.kill('SIGTERM')
      timer = setTimeout(() => { child.kill('SIGKILL') }, graceMs)
    }
    await exited
  } finally {
    clearTimeout(timer)
    child.unref()
  }
}

// ---------------------------------------------------------------------------
// Small helpers

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

function acceptsConnection (host: string, port: number, timeoutMs: number): Promise<boolean> {
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

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function portOf (uri: string): number | undefined {
  const m = /^mongodb:\/\/(?:[^@/]*@)?[^/:?]+:(\d+)(?:[/?]|$)/.exec(uri)
  return m === null ? undefined : Number(m[1])
}

/** Replaces the database name in a single-host connection string. */
function withDatabase (uri: string, dbName: string): string {
  const m = /^(mongodb:\/\/[^/?]*)(?:\/[^?]*)?(\?.*)?$/.exec(uri)
  return m === null ? uri : `${m[1]}/${dbName}${m[2] ?? ''}`
}

function logTail (file: string, lines = 15): string {
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

/** Collapses a multi-line error message to one short line. */
function oneLine (s: string, max = 200): string {
  const line = s.replace(/\s+/g, ' ').trim()
  return line.length > max ? `${line.slice(0, max - 3)}...` : line
}

function delay (ms: number): Promise<void> {
  return new Promise((resolve) => { setTimeout(resolve, ms) })
}

