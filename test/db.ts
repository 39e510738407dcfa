/**
 * Test database helpers.
 *
 * `npm test` starts one database server for the whole run (test/setup/before.ts)
 * unless MONGODB_URI is set. Every test file gets its own database on it, named
 * `warden_test_<random hex>`, so files running in parallel never share data.
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { mongo } from 'mongoose'
import { isAlive, terminate } from '../src/lib/embedded-db/process'

function projectRoot (): string {
  let dir = __dirname
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir)
    if (parent === dir) return process.cwd()
    dir = parent
  }
  return dir
}

/** Folder of the test database server (wiped at the start of each run). */
export const testDataDir = path.join(projectRoot(), '.data', 'test')

/** Written by test/setup/before.ts: `{ uri, pid, kind }` of the server it started. */
export const testDbFile = path.join(testDataDir, 'test-db.json')

export interface TestDbInfo {
  uri: string
  pid: number
  kind?: string
}

export function readTestDbInfo (): TestDbInfo | undefined {
  try {
    const info = JSON.parse(fs.readFileSync(testDbFile, 'utf8')) as Partial<TestDbInfo>
    if (typeof info.uri === 'string' && typeof info.pid === 'number') return { uri: info.uri, pid: info.pid, kind: info.kind }
  } catch {
    // no server recorded
  }
  return undefined
}

const URI_RE = /^(mongodb(?:\+srv)?:\/\/)([^/?]*)(?:\/([^?]*))?(?:\?(.*))?$/

/**
 * Connection string for a new, uniquely named test database: MONGODB_URI when set,
 * else the server started for this test run. Query options are kept; when the
 * string has credentials but no authSource, the original database (or admin)
 * stays the authentication database.
 */
export function testDatabaseUri (): string {
  const fromEnv = process.env.MONGODB_URI
  const base = fromEnv !== undefined && fromEnv !== '' ? fromEnv : readTestDbInfo()?.uri
  if (base === undefined) {
    throw new Error(`No test database: run the tests with \`npm test\` (test/setup/before.ts starts one and records it in ${testDbFile}) or set MONGODB_URI`)
  }
  const m = URI_RE.exec(base)
  if (m === null) throw new Error('MONGODB_URI is not a mongodb:// or mongodb+srv:// connection string')
  const [, scheme, authority, originalDb = '', query = ''] = m
  const params = query === '' ? [] : query.split('&')
  if (authority.includes('@') && !params.some((p) => p.toLowerCase().startsWith('authsource='))) {
    params.push(`authSource=${originalDb !== '' ? originalDb : 'admin'}`)
  }
  const name = `warden_test_${randomBytes(6).toString('hex')}`
  return `${scheme}${authority}/${name}${params.length > 0 ? `?${params.join('&')}` : ''}`
}

/** Drops the database named in `uri` (as returned by testDatabaseUri). */
export async function dropTestDatabase (uri: string): Promise<void> {
  const client = new mongo.MongoClient(uri, { serverSelectionTimeoutMS: 10_000 })
  try {
    await client.connect()
    await client.db().dropDatabase()
  } finally {
    await client.close()
  }
}

/**
 * Stops the server recorded by an earlier process (test/setup/before.ts), so it cannot
 * be awaited as a child: SIGTERM, SIGKILL after `graceMs`. Leaves the pid alone unless it
 * is still that server.
 */
export async function stopTestServer (pid: number, graceMs = 5000): Promise<void> {
  if (isTestServer(pid)) await terminate(pid, graceMs)
}

/**
 * Whether `pid` looks like the server of test/setup/before.ts: its arguments name
 * the test data folder. Guards against killing an unrelated process that reused
 * the pid of a server from an old run. Without /proc, trusts the record.
 */
function isTestServer (pid: number): boolean {
  let cmdline: string
  try {
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')
  } catch {
    return fs.existsSync('/proc/self') ? false : isAlive(pid)
  }
  return cmdline.includes(testDataDir)
}
