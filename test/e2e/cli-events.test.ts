import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { resolve } from 'node:path'
import { build, register } from '../helper'
import { testDatabaseUri, dropTestDatabase } from '../db'

// Every command is a process of its own, compiled from source as it starts.
t.setTimeout(600_000)

const ROOT = resolve(__dirname, '..', '..')
// each run of the command compiles it and opens the database: slow on a busy machine
t.setTimeout(360_000)
const LOADER = process.execArgv.filter((arg) => arg.includes('typescript'))

async function warden (args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [...LOADER, 'src/cli.ts', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c) => { stdout += c })
  child.stderr.on('data', (c) => { stderr += c })
  const [code] = await once(child, 'exit')
  return { code: code as number, stdout, stderr }
}

t.test('warden events export: NDJSON or CSV on stdout, filtered by time and user, nothing on stderr when it is not a terminal', async (t) => {
  const env = { MONGODB_URI: testDatabaseUri(), LOG_LEVEL: 'silent' }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  const app = await build(t, env)
  const alice = await register(app, 'alice')
  await register(app, 'bob')
  await app.inject({ method: 'POST', url: '/auth/login', payload: { username: '=1+1', password: 'wrong-password' } })
  await app.loginEvents.flush()
  const now = new Date(Date.now() + 1000).toISOString()

  const all = await warden(['events', 'export'], env)
  t.equal(all.code, 0, all.stderr)
  t.equal(all.stderr, '', 'no progress bar when stderr is not a terminal')
  const events = all.stdout.trimEnd().split('\n').map((l) => JSON.parse(l))
  const expected = ['login:=1+1', 'register:bob', 'register:alice']
  t.same(events.map((e) => `${e.type}:${e.username}`), app.loginEvents.ordered ? expected : expected.reverse(), 'newest first, or in storage order on FerretDB')

  const mine = await warden(['events', 'export', '--user', alice.id, '--until', now], env)
  t.same(mine.stdout.trimEnd().split('\n').map((l) => JSON.parse(l).username), ['alice'])

  const csv = await warden(['events', 'export', '--format', 'csv', '--since', now], env)
  t.equal(csv.code, 0)
  t.equal(csv.stdout, 'id,type,outcome,reason,user_id,username,ip,user_agent,at,session_id,actor_id,request_id,new_device\r\n', 'nothing since then: the header alone')
  const csvAll = await warden(['events', 'export', '--format', 'csv'], env)
  t.match(csvAll.stdout, /,'=1\+1,/, 'formula-looking cells neutralised')
})

t.test('warden events export: usage mistakes exit 2 with one line', async (t) => {
  const env = { MONGODB_URI: testDatabaseUri(), LOG_LEVEL: 'silent' }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  for (const args of [['--format', 'xml'], ['--since', 'yesterday'], ['--user', 'alice']]) {
    const out = await warden(['events', 'export', ...args], env)
    t.equal(out.code, 2, args.join(' '))
    t.equal(out.stderr.trim().split('\n').length, 1, out.stderr)
    t.equal(out.stdout, '')
  }
})
