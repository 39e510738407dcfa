import t from 'tap'
import { Writable } from 'node:stream'
import { build, register, PASSWORD, type Teardown } from '../helper'
import { testDatabaseUri, dropTestDatabase } from '../db'
import { attempt, eventually, ip, PROXIED, WRONG } from '../brute-force'
import { startRedis } from '../servers'

/** Two instances on one database and one real Redis. */
async function pair (t: Teardown, env: Record<string, string>) {
  const redis = await startRedis(t)
  const uri = testDatabaseUri()
  t.teardown(() => dropTestDatabase(uri))
  const shared = { ...PROXIED, MONGODB_URI: uri, REDIS_URL: redis.url, ...env }
  const lines: string[] = []
  const logs = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
  const a = await build(t, shared, { logger: { level: 'warn', stream: logs } })
  const b = await build(t, shared)
  return { a, b, redis, lines }
}

t.test('two instances sharing Redis count one throttle and one rate limit', async (t) => {
  const { a, b } = await pair(t, { THROTTLE_THRESHOLD: '4', RATE_LIMIT_AUTH_MAX: '6' })
  await register(a)

  // the throttle of (alice, address 1): two failures on each instance
  for (const app of [a, b, a, b]) t.equal((await attempt(app, 'alice', WRONG, { ip: ip(1) })).statusCode, 401)
  for (const app of [a, b]) {
    const res = await attempt(app, 'alice', PASSWORD, { ip: ip(1) })
    t.equal(res.statusCode, 429, 'throttled on both')
    t.equal(res.headers['retry-after'], '30')
  }

  // the /auth/ rate limit of address 2: three requests on each instance, then both refuse
  for (const app of [a, b, a, b, a, b]) {
    t.equal((await app.inject({ method: 'POST', url: '/auth/unlock/request', headers: { 'x-forwarded-for': ip(2) }, payload: { username: 'alice' } })).statusCode, 202)
  }
  for (const app of [a, b]) {
    const res = await app.inject({ method: 'POST', url: '/auth/unlock/request', headers: { 'x-forwarded-for': ip(2) }, payload: { username: 'alice' } })
    t.equal(res.statusCode, 429, 'rate limited on both')
  }
})

t.test('an automatic lock made on one instance stops logins on the other at once, before it hears of the lock', async (t) => {
  const { a, b } = await pair(t, { LOCKOUT_THRESHOLD: '3' })
  const user = await register(a)
  for (let i = 0; i < 3; i++) t.equal((await attempt(i === 1 ? b : a, 'alice', WRONG, { ip: ip(10 + i) })).statusCode, 401)
  t.equal(a.accountState.isLocked(user.id), true)
  const res = await attempt(b, 'alice', PASSWORD, { ip: ip(20) })
  t.equal(res.statusCode, 403, 'the count and the block live in the database')
  t.equal(res.json().error, 'account_locked')
  t.ok(Number(res.headers['retry-after']) > 890, 'with the lock\'s Retry-After')
})

t.test('when Redis fails, login answers 503 and other routes go on; the outage is logged once and counted', async (t) => {
  const { a, redis, lines } = await pair(t, {})
  await register(a)
  await redis.stop()
  const refused = await eventually(async () => {
    const res = await attempt(a, 'alice', PASSWORD, { ip: ip(1) })
    return res.statusCode === 503 ? res : undefined
  }, 15_000, 'login to fail closed')
  t.same(refused.json(), { error: 'unavailable', message: 'Temporarily unavailable; retry shortly' })
  for (let i = 0; i < 3; i++) t.equal((await attempt(a, 'alice', PASSWORD, { ip: ip(1) })).statusCode, 503)

  const registered = await a.inject({ method: 'POST', url: '/auth/register', headers: { 'x-forwarded-for': ip(1) }, payload: { username: 'bob', password: PASSWORD } })
  t.equal(registered.statusCode, 201, 'registration is not held up by the rate-limit store')
  t.equal((await a.inject({ url: '/health/live' })).statusCode, 200)

  const stats = a.limits.stats()
  t.ok(stats.storeFailures.failClosed >= 4, `fail-closed refusals counted (${stats.storeFailures.failClosed})`)
  t.ok(stats.storeFailures.failOpen >= 1, 'fail-open passes counted')
  t.equal(lines.filter((l) => l.includes('shared rate-limit store unavailable')).length, 1, 'logged once')
  t.notMatch(lines.join(''), PASSWORD)
})
