import { spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import {
  findSharedServer,
  readStateFile,
  removeStateFile,
  stateFilePath,
  writeStateFile,
  type StateFile
} from '../../../src/lib/embedded-db/state-file'

async function exitedPid (): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''])
  await once(child, 'exit')
  return child.pid as number
}

t.test('write then read gives the same record, with no temporary file left', async (t) => {
  const dir = t.testdir()
  const file = stateFilePath(dir)
  t.equal(file, path.join(dir, 'embedded.json'))
  const state: StateFile = { uri: 'mongodb://127.0.0.1:27017/warden', pid: 4242, owner_pid: 4141, kind: 'ferretdb' }
  writeStateFile(file, state)
  t.same(readStateFile(file), state)
  t.same(JSON.parse(fs.readFileSync(file, 'utf8')), state, 'plain JSON on disk')
  t.same(fs.readdirSync(dir), ['embedded.json'])
})

t.test('a missing, unreadable or incomplete record reads as none', async (t) => {
  const dir = t.testdir({
    garbage: '{ not json',
    array: '[]',
    'no-pid': JSON.stringify({ uri: 'mongodb://127.0.0.1:1/warden' }),
    'bad-pid': JSON.stringify({ uri: 'mongodb://127.0.0.1:1/warden', pid: -1 })
  })
  for (const name of ['missing', 'garbage', 'array', 'no-pid', 'bad-pid']) {
    t.equal(readStateFile(path.join(dir, name)), undefined, name)
  }
})

t.test('an older record without owner_pid and kind gets defaults', async (t) => {
  const dir = t.testdir({ 'embedded.json': JSON.stringify({ uri: 'mongodb://127.0.0.1:1/warden', pid: 7 }) })
  t.same(readStateFile(stateFilePath(dir)), { uri: 'mongodb://127.0.0.1:1/warden', pid: 7, owner_pid: 0, kind: 'mongod' })
})

t.test('removeStateFile removes only the record of the given server', async (t) => {
  const dir = t.testdir()
  const file = stateFilePath(dir)
  writeStateFile(file, { uri: 'mongodb://127.0.0.1:1/warden', pid: 100, owner_pid: 1, kind: 'mongod' })
  removeStateFile(file, 200)
  t.ok(fs.existsSync(file), 'a record of another server stays')
  removeStateFile(file, 100)
  t.notOk(fs.existsSync(file), 'its own record is removed')
  removeStateFile(file, 100)
  t.pass('removing twice is harmless')
})

t.test('findSharedServer: a record of a server that is gone is removed', async (t) => {
  const dir = t.testdir()
  const file = stateFilePath(dir)
  const messages: string[] = []
  t.equal(await findSharedServer(dir, 'warden', (m) => { messages.push(m) }), undefined, 'no record, no server')

  const pid = await exitedPid()
  writeStateFile(file, { uri: 'mongodb://127.0.0.1:1/warden', pid, owner_pid: pid, kind: 'ferretdb' })
  t.equal(await findSharedServer(dir, 'warden', (m) => { messages.push(m) }), undefined)
  t.notOk(fs.existsSync(file), 'the stale record was removed')
  t.match(messages, [/^Removing stale .*embedded\.json$/])
})
