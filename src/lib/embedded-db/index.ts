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
 *
 * The state file is kept by state-file.ts, binaries are found by binaries.ts and
 * server processes are supervised by process.ts.
 */
import type { ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { findExecutable, findOrBuildFerretDB, memoryServerBinary } from './binaries'
import { freePort, HOST, logTail, spawnServer, stopOnExit, terminate, waitUntilReady } from './process'
import { findSharedServer, removeStateFile, stateFilePath, writeStateFile, type ServerKind } from './state-file'

export { freePort } from './process'

export type DatabaseKind = 'external' | 'shared' | ServerKind

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
}

/** No database server is configured and none could be found, built or downloaded. */
export class DatabaseUnavailableError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'DatabaseUnavailableError'
  }
}

const READY_TIMEOUT_MS = 20_000
const STOP_GRACE_MS = 5_000
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
    if (shared !== undefined) return { ...shared, kind: 'shared', stop: async () => {} }
  }

  const notes: string[] = []
  const ctx: LaunchContext = { dataDir, dbName, detached: opts.detached === true, log }

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

interface LaunchContext {
  dataDir: string
  dbName: string
  detached: boolean
  log: (msg: string) => void
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
    const port = await freePort()
    const child = spawnServer(bin, args(port), logFile, ctx.detached)
    const uri = `mongodb://${HOST}:${port}/${ctx.dbName}`
    try {
      await waitUntilReady(child, uri, port, READY_TIMEOUT_MS)
    } catch (err) {
      await terminate(child, 0)
      const tail = logTail(logFile)
      // The free port may have been taken between probing it and the server binding it.
      if (attempt < 3 && /address already in use/i.test(tail)) continue
      const reason = err instanceof Error ? err.message : String(err)
      throw new Error(`${label} did not start: ${reason}${tail !== '' ? `\n--- last lines of ${logFile} ---\n${tail}` : ''}`)
    }
    ctx.log(`Started ${label} (${bin}, pid ${child.pid}) at ${uri}, data in ${workDir}`)
    return own(ctx, kind, child, uri)
  }
}

/**
 * The handle of a server this process started. Unless detached, the server is recorded
 * in embedded.json and stopped (its record removed) when this process exits.
 */
function own (ctx: LaunchContext, kind: ServerKind, child: ChildProcess, uri: string): DatabaseHandle {
  const pid = child.pid as number
  let release = (): void => {}
  if (!ctx.detached) {
    const stateFile = stateFilePath(ctx.dataDir)
    writeStateFile(stateFile, { uri, pid, owner_pid: process.pid, kind })
    const forget = stopOnExit(child, () => { removeStateFile(stateFile, pid) })
    release = () => {
      forget()
      removeStateFile(stateFile, pid)
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
        release()
      })()
      return stopping
    }
  }
}
