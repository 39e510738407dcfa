import t from 'tap'
import { Redis } from 'ioredis'
import { eventually, PASSWORD, sample } from '../helper'
import type { RunningServer } from '../servers'
import { ADMIN, startPair } from './instances'
import type { Answer, Call } from './load'

/**
 * Two Warden processes sharing one database and one redis-server; Redis stops, then starts again
 * on the same port. What the README states ("Several instances, and Redis", "Running several
 * instances"): logins fail closed (503 `unavailable`), every other route fails open, changes
 * still reach the other instance through the poll, the outage is logged once and counted; once
 * Redis is back both instances count in it and hear each other through it again, without a restart.
 */

const POLL_S = 1
/** The README's bounds: one poll interval plus the time of one poll; one Redis round trip. */
const POLL_BOUND_MS = POLL_S * 1000 + 250
const REDIS_BOUND_MS = 100
/** README: once Redis answers again, each instance uses it again within this (it retries every 2 s at most). */
const RECOVERY_BOUND_MS = 2500
const WRONG = 'not the right password'

t.test('Redis stops under two instances and starts again', async (t) => {
  const two = await startPair(t, { PROPAGATION_POLL_INTERVAL: String(POLL_S), LOG_LEVEL: 'info', THROTTLE_THRESHOLD: '4', RATE_LIMIT_AUTH_MAX: '6' })
  const { a, b, redis, uri, name, from, call, login: loginCall, tokenOf, verify } = two
  const instances = [a, b]
  const registered = async (server: RunningServer, username: string): Promise<string> => {
    const res = await two.register(server, username)
    if (res.status !== 201) throw new Error(`register ${username} on ${name(server)}: ${res.status}`)
    return (res.json as { id: string }).id
  }
  const metrics = async (server: RunningServer): Promise<string> => await (await fetch(`${server.url}/metrics`)).text()
  const root = await tokenOf(a, ADMIN.username, ADMIN.password)
  const admin = (path: string): Call => ({ kind: 'admin', method: 'POST', path, headers: { ...from(), authorization: `Bearer ${root}` }, body: {} })

  /** Locks (or unlocks) `id` through A; resolves with the ms until B answers `status` to `token`. */
  async function change (what: 'lock' | 'unlock', id: string, token: string, status: number, boundMs: number): Promise<number> {
    const res = await call(a, admin(`/admin/users/${id}/${what}`))
    if (res.status !== 200) throw new Error(`${what} on A: ${res.status}`)
    return await eventually(async () => await verify(b, token) === status, boundMs, `the ${what} to reach B`)
  }

  const carolId = await registered(a, 'carol')
  const carol = await tokenOf(a, 'carol')
  t.equal(await verify(b, carol), 204, 'a token of A works on B')

  // Redis stops.
  await redis.stop()
  for (const server of instances) {
    const ms = await eventually(async () => (await call(server, loginCall('carol', PASSWORD))).status === 503, 10_000, `logins on ${name(server)} to fail closed`)
    const refused: Answer[] = []
    for (let i = 0; i < 3; i++) refused.push(await call(server, loginCall('carol', PASSWORD)))
    t.same(refused.map((r) => [r.status, r.json]), refused.map(() => [503, { error: 'unavailable', message: 'Temporarily unavailable; retry shortly' }]), `${name(server)}: logins fail closed (503 unavailable), the first ${ms} ms after the stop`)
    t.ok(Math.max(...refused.map((r) => r.ms)) < 2000, `${name(server)}: refused at once (at most ${Math.max(...refused.map((r) => r.ms))} ms)`)
    // Every other route fails open: a registration, a refresh, a token check.
    await registered(server, `dave-${name(server)}`)
    t.pass(`${name(server)}: registration goes on`)
    t.equal(await verify(server, carol), 204, `${name(server)}: token checks go on`)
  }

  // Changes still reach the other instance, through the poll.
  const lockedMs = await change('lock', carolId, carol, 403, POLL_BOUND_MS)
  const unlockedMs = await change('unlock', carolId, carol, 204, POLL_BOUND_MS)
  t.comment(`Redis away: a lock reached B by the poll in ${lockedMs} ms, an unlock in ${unlockedMs} ms`)
  t.pass(`a lock and an unlock reached B within the poll bound (${POLL_BOUND_MS} ms)`)

  for (const server of instances) {
    const text = await metrics(server)
    const refused = sample(text, 'warden_rate_limit_store_failures_total', { outcome: 'refused' })
    const admitted = sample(text, 'warden_rate_limit_store_failures_total', { outcome: 'admitted' })
    t.ok(refused >= 4 && admitted >= 1, `${name(server)}: counted in /metrics (${refused} refused, ${admitted} admitted)`)
    const warnings = server.logs.filter((l) => l.msg === 'redis unavailable').length
    const limits = server.logs.filter((l) => String(l.msg).startsWith('shared rate-limit store unavailable')).length
    t.same([warnings, limits], [1, 1], `${name(server)}: the outage is logged once (redis unavailable, shared rate-limit store unavailable)`)
  }

  // Redis starts again, empty, on the same port.
  const restartedAt = Date.now()
  await redis.start()
  for (const server of instances) {
    const ms = await eventually(async () => (await call(server, loginCall('carol', PASSWORD))).status === 200, 15_000, `logins on ${name(server)} to work again`)
    const back = Date.now() - restartedAt
    t.comment(`${name(server)}: logins answered 200 again ${back} ms after Redis started (${ms} ms of polling)`)
    t.ok(back <= RECOVERY_BOUND_MS, `${name(server)}: back within ${RECOVERY_BOUND_MS} ms`)
  }
  for (const server of instances) {
    const back = (msg: string): number => server.logs.filter((l) => l.msg === msg).length
    t.same([back('redis available again'), back('shared rate-limit store available again')], [1, 1], `${name(server)}: the end of the outage is logged once`)
  }

  // Shared limits are counted in Redis again: failures alternate between the instances.
  const pair = from()
  for (const server of [a, b, a, b]) t.equal((await call(server, loginCall('carol', WRONG, pair))).status, 401)
  for (const server of instances) t.equal((await call(server, loginCall('carol', PASSWORD, pair))).status, 429, `${name(server)}: the throttle counts the failures made on both`)
  const address = from()
  for (const server of [a, b, a, b, a, b]) t.equal((await call(server, { kind: 'unlock', method: 'POST', path: '/auth/unlock/request', headers: address, body: { username: 'carol' } })).status, 202)
  for (const server of instances) t.equal((await call(server, { kind: 'unlock', method: 'POST', path: '/auth/unlock/request', headers: address, body: { username: 'carol' } })).status, 429, `${name(server)}: the /auth/ rate limit counts the requests made on both`)

  // And changes travel through Redis again, within its bound, once both have subscribed again.
  const watcher = new Redis(redis.url)
  t.teardown(() => { watcher.disconnect() })
  const channel = `warden:state-changes:${new URL(uri).pathname.slice(1)}`
  const subscribed = await eventually(async () => (await watcher.pubsub('NUMSUB', channel) as [string, number])[1] === 2, 15_000, 'both instances to subscribe again')
  t.comment(`both subscribed again ${Date.now() - restartedAt} ms after Redis started (${subscribed} ms after their logins worked)`)
  const byRedis = (): Promise<number> => metrics(b).then((text) => sample(text, 'warden_propagation_lag_seconds_count', { transport: 'redis' }))
  const before = await byRedis()
  const delays: number[] = []
  for (let i = 0; i < 3; i++) {
    delays.push(await change('lock', carolId, carol, 403, REDIS_BOUND_MS))
    delays.push(await change('unlock', carolId, carol, 204, REDIS_BOUND_MS))
  }
  t.comment(`Redis back: locks and unlocks reached B in ${delays.join(', ')} ms`)
  t.pass(`six changes reached B within the Redis bound (${REDIS_BOUND_MS} ms)`)
  // The poll runs beside it; it may deliver one first, not six.
  t.ok(await byRedis() - before >= 3, `B received them through Redis (${await byRedis() - before} of 6 first by Redis)`)
})
