import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { mongo } from 'mongoose'
import { eventually, PASSWORD, sample } from '../helper'
import { startOwnDatabase, startWarden } from '../servers'
import { send, startLoad, type Answer, type Call } from './load'

/**
 * A Warden process on a database server of the test's own, under a steady load of logins,
 * token checks and /users/me; the database stops, then starts again on the same port. The
 * README ("Running without the database") states what this checks: tokens already issued keep
 * working from memory, a login that needs the database answers 503 `unavailable` within 2 s,
 * /health/ready answers 503, and everything comes back without restarting Warden, with one
 * login event for every login that was answered.
 */

/** README: a login that needs the database answers within this while it is away. */
const LOGIN_BOUND_MS = 2000
/** README: once the database answers again, ready and logins answer 200 within this. */
const RECOVERY_BOUND_MS = 2000
/** How long /users/me may answer from the profile cache before it reads the database again (plugins/accounts/profiles.ts). */
const PROFILE_TTL_MS = 10_000
/** A wrong password: mallory's pair is throttled before the outage, and answered from memory during it. */
const WRONG = 'not the right password'

t.test('the database stops under load and starts again', async (t) => {
  const db = await startOwnDatabase(t, 'outage')
  const dataDir = mkdtempSync(join(tmpdir(), 'warden-outage-data-'))
  t.teardown(() => { rmSync(dataDir, { recursive: true, force: true }) })
  const warden = await startWarden(t, {
    MONGODB_URI: db.uri,
    DATA_DIR: dataDir,
    // every request comes from 127.0.0.1: the per-address limit of POST /auth/ would stop the load
    RATE_LIMIT_AUTH_MAX: '1000000',
    THROTTLE_THRESHOLD: '3'
  })
  const call = (c: Call, agent: string) => send(warden.url, c, agent)
  const post = (path: string, body: unknown): Call => ({ kind: path, method: 'POST', path, body })

  for (const username of ['alice', 'mallory']) {
    t.equal((await call(post('/auth/register', { username, password: PASSWORD }), 'setup')).status, 201)
  }
  const issued = await call(post('/auth/login', { username: 'alice', password: PASSWORD }), 'setup')
  t.equal(issued.status, 200)
  const bearer = { authorization: `Bearer ${(issued.json as { access_token: string }).access_token}` }

  const login = (username: string, password: string): Call => ({ kind: 'login', method: 'POST', path: '/auth/login', username, body: { username, password } })
  const load = startLoad(warden.url, [
    () => login('alice', PASSWORD),
    // unknown usernames, one each, and mallory's wrong password (throttled after three)
    (n) => n % 2 === 0 ? login(`ghost-${n}`, WRONG) : login('mallory', WRONG),
    () => ({ kind: 'verify', method: 'GET', path: '/auth/verify', headers: bearer }),
    () => ({ kind: 'me', method: 'GET', path: '/users/me', headers: bearer })
  ], { pauseMs: 10 })
  const answers = load.answers
  const logins = (): Answer[] => answers.filter((a) => a.kind === 'login')
  let stopped = false
  t.teardown(async () => { if (!stopped) await load.stop() })

  await eventually(async () =>
    logins().filter((a) => a.status === 200).length >= 3 &&
    logins().some((a) => a.username === 'mallory' && a.status === 429) &&
    logins().some((a) => a.username?.startsWith('ghost-') === true && a.status === 401), 60_000, 'answers before the outage')

  // The outage.
  const stopAt = Date.now()
  await db.stop()
  const stoppedAt = Date.now()
  const notReady = await eventually(async () => (await call({ kind: 'ready', method: 'GET', path: '/health/ready' }, 'probe')).status === 503, 10_000, '/health/ready to answer 503')
  t.comment(`database stopped in ${stoppedAt - stopAt} ms; /health/ready answered 503 ${notReady} ms later`)
  t.ok(notReady <= LOGIN_BOUND_MS, `/health/ready answered 503 within ${LOGIN_BOUND_MS} ms`)
  // Longer than the profile cache keeps a profile fresh: /users/me must still answer from memory.
  await eventually(async () => answers.some((a) => a.kind === 'me' && a.sentAt > stoppedAt + PROFILE_TTL_MS + 1000), 60_000, 'a /users/me past the profile cache time')
  await eventually(async () => logins().filter((a) => a.sentAt > stoppedAt && a.status === 503).length >= 5, 30_000, 'logins answered during the outage')
  t.equal((await call({ kind: 'ready', method: 'GET', path: '/health/ready' }, 'probe')).status, 503, 'still not ready')

  // The database comes back, on the same port; Warden is not restarted.
  const restartAt = Date.now()
  await db.start()
  const restartedAt = Date.now()
  const ready = await eventually(async () => (await call({ kind: 'ready', method: 'GET', path: '/health/ready' }, 'probe')).status === 200, 30_000, '/health/ready to answer 200 again')
  const firstLogin = await eventually(async () => logins().some((a) => a.sentAt > restartedAt && a.status === 200), 30_000, 'a login answered 200 again')
  t.comment(`database started again in ${restartedAt - restartAt} ms; then ready 200 after ${ready} ms, first login 200 after ${firstLogin} ms`)
  t.ok(ready <= RECOVERY_BOUND_MS && firstLogin <= RECOVERY_BOUND_MS, `found again within ${RECOVERY_BOUND_MS} ms`)
  await eventually(async () => logins().filter((a) => a.sentAt > restartedAt && a.status === 200).length >= 3, 30_000, 'logins after the outage')
  await load.stop()
  stopped = true

  // During the outage: token checks and /users/me from memory, logins refused in time.
  const outage = (a: Answer): boolean => a.sentAt + a.ms >= stopAt && a.sentAt <= restartedAt
  for (const kind of ['verify', 'me']) {
    const all = answers.filter((a) => a.kind === kind)
    const expected = kind === 'verify' ? 204 : 200
    t.same(all.filter((a) => a.status !== expected).map((a) => `${a.agent}: ${a.status ?? a.error}`), [], `every ${kind} answered ${expected} (${all.filter(outage).length} during the outage)`)
  }
  const during = logins().filter(outage)
  const refused = during.filter((a) => a.status === 503)
  t.ok(refused.length >= 5, `${refused.length} logins answered 503 during the outage`)
  t.same(refused.filter((a) => !isUnavailable(a.json)).map((a) => a.json), [], 'in the contract\'s shape: {"error": "unavailable", "message": ...}')
  const slowest = Math.max(...during.map((a) => a.ms))
  t.comment(`logins during the outage: ${during.length}, ${refused.length} answered 503; latency max ${slowest} ms, mean ${Math.round(during.reduce((s, a) => s + a.ms, 0) / during.length)} ms`)
  t.same(during.filter((a) => a.ms > LOGIN_BOUND_MS).map((a) => `${a.agent}: ${a.status ?? a.error} after ${a.ms} ms`), [], `every login answered within ${LOGIN_BOUND_MS} ms while the database was away`)
  const throttled = during.filter((a) => a.status === 429)
  t.ok(throttled.length >= 1, `mallory's throttled pair answered from memory (${throttled.length} times)`)
  t.same(logins().filter((a) => ![200, 401, 429, 503].includes(a.status ?? 0)).map((a) => `${a.agent}: ${a.status ?? a.error}`), [], 'no other answer, and no request without one')

  // Every answered login has exactly one event, once the spool is replayed; a refused one has none.
  await eventually(async () => {
    const metrics = await (await fetch(`${warden.url}/metrics`)).text()
    return sample(metrics, 'warden_login_events_spool_depth') === 0 && sample(metrics, 'warden_login_events_buffered') === 0
  }, 30_000, 'the spool to be replayed')
  // The events of the attempts answered once the database had stopped could only go to the spool.
  const offline = throttled.filter((a) => a.sentAt >= stoppedAt).length
  const metrics = await (await fetch(`${warden.url}/metrics`)).text()
  t.ok(sample(metrics, 'warden_login_events_spooled_total') >= offline, `${sample(metrics, 'warden_login_events_spooled_total')} events spooled while the database was away (${offline} attempts answered after it stopped)`)
  t.ok(sample(metrics, 'warden_login_events_replayed_total') >= offline, `${sample(metrics, 'warden_login_events_replayed_total')} replayed`)

  // The outage is logged once, not once per request.
  t.equal(warden.logs.filter((l) => String(l.msg).startsWith('database unreachable')).length, 1, 'the outage is logged once')
  t.same(warden.logs.filter((l) => l.msg === 'request failed').map((l) => l.err), [], 'no request failed with an error')

  const client = new mongo.MongoClient(db.uri)
  t.teardown(() => client.close())
  const events = await client.db().collection('login_events').find({ type: 'login', user_agent: { $regex: '^login-' } }).toArray()
  const byAgent = new Map<string, typeof events>()
  for (const e of events) byAgent.set(e.user_agent as string, [...byAgent.get(e.user_agent as string) ?? [], e])
  const expected = (a: Answer): string => a.status === 200 ? 'success' : a.status === 429 ? 'throttled' : a.username === 'mallory' ? 'bad_password' : 'unknown_user'
  const answered = logins().filter((a) => a.status !== 503)
  const wrong = answered.filter((a) => {
    const found = byAgent.get(a.agent) ?? []
    return found.length !== 1 || (found[0].reason ?? 'success') !== expected(a)
  })
  t.same(wrong.map((a) => `${a.agent} (${a.status}): ${(byAgent.get(a.agent) ?? []).length} events`), [], `each of the ${answered.length} answered logins has exactly one event, with its outcome`)
  t.same(refused.filter((a) => byAgent.has(a.agent)).map((a) => a.agent), [], 'a login answered 503 has none (it was not checked)')
  t.equal(events.length, answered.length, 'and there is no other')
})

function isUnavailable (body: unknown): boolean {
  const b = body as { error?: unknown, message?: unknown } | undefined
  return b?.error === 'unavailable' && typeof b.message === 'string' && Object.keys(b).length === 2
}
