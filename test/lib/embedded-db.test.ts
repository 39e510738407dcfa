import { spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { mongo } from 'mongoose'
import {
  DatabaseUnavailableError,
  redactUri,
  startDatabase,
  type DatabaseHandle,
  type StartDatabaseOptions
} from '../../src/lib/embedded-db'
import { isAlive, waitUntil } from '../../src/lib/embedded-db/process'

const modulePath = path.resolve(__dirname, '../../src/lib/embedded-db')

async function ping (uri: string): Promise<number> {
  const client = new mongo.MongoClient(uri, { serverSelectionTimeoutMS: 5000 })
  try {
    const res = await client.db().command({ ping: 1 })
    return Number(res.ok)
  } finally {
    await client.close()
  }
}

/** Starts an embedded server, or skips the test when this machine has no way to run one. */
async function startOrSkip (t: Test, opts: StartDatabaseOptions): Promise<DatabaseHandle | undefined> {
  try {
    return await startDatabase(opts)
  } catch (err) {
    if (err instanceof DatabaseUnavailableError) {
      t.pass('embedded database', { skip: err.message })
      return undefined
    }
    throw err
  }
}

t.test('redactUri hides credentials and keeps the rest', async (t) => {
  t.equal(redactUri('mongodb://admin:s3cret@db.example.com:27017/warden?authSource=admin'),
    'mongodb://***:***@db.example.com:27017/warden?authSource=admin')
  t.equal(redactUri('mongodb+srv://user:p%40ss@cluster0.example.net/warden?retryWrites=true&w=majority'),
    'mongodb+srv://***:***@cluster0.example.net/warden?retryWrites=true&w=majority')
  t.equal(redactUri('mongodb://token@h1:1,h2:2/warden'), 'mongodb://***@h1:1,h2:2/warden')
  t.equal(redactUri('mongodb://127.0.0.1:27017/warden'), 'mongodb://127.0.0.1:27017/warden')
  t.equal(redactUri('mongodb://h/warden?readPreferenceTags=dc:ny@x'), 'mongodb://h/warden?readPreferenceTags=dc:ny@x',
    'an @ in the query string is not taken for credentials')
  t.notMatch(redactUri('mongodb://u:pa@ss@h/db'), /pa|ss@h/, 'an unescaped @ in the password does not leak it')
  t.equal(redactUri('not a uri'), 'not a uri')
})

t.test('an explicit uri is used as given', async (t) => {
  const uri = 'mongodb://user:pw@db.internal:27017/custom?replicaSet=rs0'
  const db = await startDatabase({ uri, dataDir: t.testdir() })
  t.equal(db.uri, uri)
  t.equal(db.kind, 'external')
  t.equal(db.pid, undefined)
  await db.stop()
})

t.test('embedded server: start, share through embedded.json, stop', async (t) => {
  const dataDir = t.testdir()
  const stateFile = path.join(dataDir, 'embedded.json')
  const db = await startOrSkip(t, { dataDir, dbName: 'warden_embedded' })
  if (db === undefined) return
  t.teardown(() => db.stop())

  t.match(db.uri, /^mongodb:\/\/127\.0\.0\.1:\d+\/warden_embedded$/)
  t.not(db.kind, 'external')
  t.not(db.kind, 'shared')
  t.type(db.pid, 'number')
  t.equal(await ping(db.uri), 1, 'answers ping')

  const state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as Record<string, unknown>
  t.same(state, { uri: db.uri, pid: db.pid, owner_pid: process.pid, kind: db.kind }, 'embedded.json records the server')

  const again = await startDatabase({ dataDir })
  t.equal(again.kind, 'shared', 'a second start on the same folder reuses the server')
  t.equal(again.pid, db.pid)
  t.equal(again.uri, db.uri.replace(/warden_embedded$/, 'warden'), 'with its own database name')
  await again.stop()
  t.equal(await ping(db.uri), 1, 'stopping a shared handle leaves the server running')

  const pid = db.pid as number
  await db.stop()
  t.notOk(fs.existsSync(stateFile), 'stop() removes embedded.json')
  t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the server process is gone')
  await db.stop()
  t.pass('stop() twice is harmless')
})

t.test('a stale embedded.json is ignored and replaced', async (t) => {
  const dataDir = t.testdir()
  const stateFile = path.join(dataDir, 'embedded.json')
  const finished = spawn(process.execPath, ['-e', ''])
  await once(finished, 'exit')
  const deadPid = finished.pid as number
  fs.writeFileSync(stateFile, JSON.stringify({ uri: 'mongodb://127.0.0.1:1/warden', pid: deadPid, owner_pid: deadPid, kind: 'ferretdb' }))

  const db = await startOrSkip(t, { dataDir })
  if (db === undefined) return
  t.teardown(() => db.stop())
  t.not(db.kind, 'shared')
  t.not(db.pid, deadPid)
  t.equal((JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { pid: number }).pid, db.pid)
})

t.test('reuse: false starts a new server even when one is recorded', async (t) => {
  const dataDir = t.testdir()
  const first = await startOrSkip(t, { dataDir })
  if (first === undefined) return
  t.teardown(() => first.stop())
  const second = await startDatabase({ dataDir: path.join(dataDir, 'second'), reuse: false, detached: true })
  t.teardown(() => second.stop())
  t.not(second.kind, 'shared')
  t.not(second.pid, first.pid)
  t.notOk(fs.existsSync(path.join(dataDir, 'second', 'embedded.json')), 'a detached server is not recorded')
  const pid = second.pid as number
  await second.stop()
  t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'stop() also ends a detached server')
})

t.test('the server does not outlive a process that exits without stop()', async (t) => {
  const dataDir = t.testdir({
    'start.ts': `import { startDatabase } from ${JSON.stringify(modulePath)}
startDatabase({ dataDir: ${JSON.stringify(t.testdirName)} }).then(
  (db) => { process.stdout.write(JSON.stringify({ kind: db.kind, pid: db.pid }) + '\\n') },
  (err: Error) => { process.stdout.write(JSON.stringify({ error: err.name, message: err.message }) + '\\n') }
)
`
  })
  const child = spawn(process.execPath, [...process.execArgv, path.join(dataDir, 'start.ts')], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  const [code] = await once(child, 'exit') as [number | null]
  t.equal(code, 0, 'the process exits on its own')
  const result = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { kind?: string, pid?: number, error?: string, message?: string }
  if (result.error === 'DatabaseUnavailableError') {
    t.pass('embedded database', { skip: result.message ?? true })
    return
  }
  t.type(result.pid, 'number', `started a server (${out.trim()})`)
  const pid = result.pid as number
  await waitUntil(() => !isAlive(pid), `server ${pid} to exit`, 10_000)
  t.notOk(isAlive(pid), 'the server was stopped when its parent exited')
  t.notOk(fs.existsSync(path.join(dataDir, 'embedded.json')), 'embedded.json was removed')
})
