import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp } from '../../src/app'
import { loadConfig } from '../../src/config'
import { freePort, startDatabase, type DatabaseHandle } from '../../src/lib/embedded-db'
import { TEST_ENV } from '../helper'

/** Polls `check` until it holds or the deadline passes. */
async function until (check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

t.test('the database goes away under load and comes back: no event lost, none twice', async (t) => {
  // A database server of this test's own, so that stopping it disturbs no other test.
  const dir = mkdtempSync(join(tmpdir(), 'warden-outage-'))
  const port = await freePort()
  let db: DatabaseHandle = await startDatabase({ dataDir: join(dir, 'db'), dbName: 'outage', reuse: false, port })
  const config = loadConfig({ ...TEST_ENV, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', DATA_DIR: join(dir, 'warden'), THROTTLE_THRESHOLD: '2', LOCKOUT_THRESHOLD: '100' })
  const app = await buildApp({ config, mongodbUri: db.uri })
  t.teardown(async () => {
    await app.close()
    await db.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  // Pairs (alice, address) throttled before the outage: their attempts are refused from memory.
  const reg = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'alice', password: 'correct horse battery staple' } })
  t.equal(reg.statusCode, 201)
  const alice = reg.json<{ id: string }>().id
  const addresses = Array.from({ length: 5 }, (_, i) => `203.0.113.${i + 1}`)
  const tryAlice = (remoteAddress: string, userAgent: string) => app.inject({
    method: 'POST', url: '/auth/login', remoteAddress, headers: { 'user-agent': userAgent }, payload: { username: 'alice', password: 'wrong-password' }
  })
  for (const address of addresses) {
    for (let i = 0; i < 2; i++) t.equal((await tryAlice(address, 'before the outage')).statusCode, 401)
    t.equal((await tryAlice(address, 'before the outage')).statusCode, 429, `${address} is throttled`)
  }

  // Attempts on unknown accounts: looked up, hashed against a dummy, answered 401 with an event.
  // Each uses a username of its own, so every answer can be matched with its event.
  const answered: string[] = []
  let sent = 0
  let running = true
  const worker = async (): Promise<void> => {
    while (running) {
      const username = `ghost-${++sent}`
      const res = await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password: 'wrong-password' } })
      if (res.statusCode === 401) answered.push(username)
      // a quick refusal (the database away) must not starve the timers of everything else
      else await new Promise((resolve) => { setImmediate(resolve) })
    }
  }
  const workers = Array.from({ length: 4 }, worker)
  try {
    await until(() => answered.length >= 8, 60_000, 'answers before the outage')
  } catch (err) {
    running = false
    await Promise.all(workers)
    throw err
  }

  await db.stop()
  // Attempts already past their look-up are still answered and recorded; the throttled pairs
  // keep being answered (429, from memory), each with its event, for as long as the database is away.
  const offline: string[] = []
  try {
    for (let i = 0; i < 20; i++) {
      const agent = `during the outage ${i}`
      const res = await tryAlice(addresses[i % addresses.length], agent)
      t.equal(res.statusCode, 429, `${agent}: answered without the database`)
      if (res.statusCode === 429) offline.push(agent)
    }
    await until(() => app.loginEvents.stats().spooled >= offline.length, 30_000, 'events spooled to disk')
  } finally {
    running = false
    await Promise.all(workers)
  }
  t.equal(offline.length, 20, 'every throttled attempt was answered')
  t.ok(app.loginEvents.stats().spoolDepth >= offline.length, 'events wait on disk while the database is away')

  db = await startDatabase({ dataDir: join(dir, 'db'), dbName: 'outage', reuse: false, port })
  await until(() => { const s = app.loginEvents.stats(); return s.spoolDepth === 0 && s.buffered === 0 }, 60_000, 'the spool to be replayed')
  await app.loginEvents.flush()

  const stats = app.loginEvents.stats()
  t.ok(stats.replayed >= offline.length, `replayed ${stats.replayed} spooled events`)
  const events = await app.db.connection.collection('login_events').find({}, { projection: { username: 1, request_id: 1, user_agent: 1, user_id: 1, reason: 1 } }).toArray()
  t.equal(events.length, stats.recorded, 'every recorded event is in the database, once')
  const byUsername = new Map<string, number>()
  for (const e of events) byUsername.set(e.username, (byUsername.get(e.username) ?? 0) + 1)
  const missing = answered.filter((u) => byUsername.get(u) !== 1)
  t.same(missing, [], `each of the ${answered.length} answered attempts has exactly one event`)
  for (const agent of offline) {
    const found = events.filter((e) => e.user_agent === agent)
    t.equal(found.length, 1, `${agent}: one event`)
    t.match(found[0], { reason: 'throttled', username: 'alice' })
    t.equal(String(found[0]?.user_id), alice, `${agent}: the account is named`)
  }
  t.equal(new Set(events.map((e) => e.request_id)).size, events.length, 'no event stored twice')
})
