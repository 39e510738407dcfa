/**
 * `<dataDir>/embedded.json`: the record of the database server a Warden process started
 * for a data folder, so that other Warden processes on that folder (the `warden`
 * command, a second server) use it instead of starting their own.
 */
import fs from 'node:fs'
import path from 'node:path'
import { acceptsConnection, HOST, isAlive } from './process'

/** A database server this module starts. */
export type ServerKind = 'mongod' | 'ferretdb' | 'memory-server'

/** Contents of `<dataDir>/embedded.json`. */
export interface StateFile {
  uri: string
  pid: number
  owner_pid: number
  kind: ServerKind
}

/** A live server found through the state file, with the connection string for `dbName`. */
export interface SharedServer {
  uri: string
  pid: number
}

const STATE_FILE = 'embedded.json'

export function stateFilePath (dataDir: string): string {
  return path.join(dataDir, STATE_FILE)
}

/**
 * The server recorded for `dataDir` when it still runs and accepts connections;
 * a record of a server that is gone is removed.
 */
export async function findSharedServer (dataDir: string, dbName: string, log: (msg: string) => void): Promise<SharedServer | undefined> {
  const file = stateFilePath(dataDir)
  const state = readStateFile(file)
  if (state === undefined) return undefined
  const port = portOf(state.uri)
  if (isAlive(state.pid) && port !== undefined && await acceptsConnection(HOST, port, 2000)) {
    log(`Using the ${state.kind} server (pid ${state.pid}) recorded in ${file}`)
    return { uri: withDatabase(state.uri, dbName), pid: state.pid }
  }
  log(`Removing stale ${file}`)
  removeStateFile(file, state.pid)
  return undefined
}

export function readStateFile (file: string): StateFile | undefined {
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

/** Writes a temporary file and renames it, so that a reader never sees half a record. */
export function writeStateFile (file: string, state: StateFile): void {
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n')
  fs.renameSync(tmp, file)
}

/** Removes the state file if it still describes server `pid`. Synchronous: also used on process exit. */
export function removeStateFile (file: string, pid: number): void {
  const state = readStateFile(file)
  if (state !== undefined && state.pid !== pid) return
  try {
    fs.rmSync(file, { force: true })
  } catch {
    // nothing to clean up
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
