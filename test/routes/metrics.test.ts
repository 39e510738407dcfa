import t from 'tap'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { bearer, build, eventually, login, PASSWORD, register, sample, signUp } from '../helper'
import { as, buildWithAdmin, createUser } from '../admin'
import { dropTestDatabase, testDatabaseUri } from '../db'
import { startRedis } from '../servers'

/** The body of /metrics as a loopback caller gets it. */
async function scrape (app: FastifyInstance, options: InjectOptions = {}): Promise<string> {
  const res = await app.inject({ url: '/metrics', ...options })
  if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}: ${res.body}`)
  return res.body
}

t.test('from loopback: Prometheus text whose counters move with real requests', async (t) => {
  const app = await build(t)
  const before = await scrape(app)
  for (const family of ['warden_http_requests_total', 'warden_http_request_duration_seconds', 'warden_token_cache_hits_total', 'warden_login_events_written_total', 'warden_login_event_batch_size', 'warden_login_events_spool_depth', 'warden_login_events_indexed', 'warden_logins_total', 'warden_propagation_lag_seconds', 'process_cpu_user_seconds_total', 'nodejs_eventloop_lag_seconds']) {
    t.match(before, new RegExp(`^# TYPE ${family} `, 'm'), `${family} is listed`)
  }
  const res = await app.inject({ url: '/metrics' })
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)

  const { tokens } = await signUp(app)
  t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'alice', password: 'not the password' } })).statusCode, 401)
  t.equal((await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'nobody', password: PASSWORD } })).statusCode, 401)
  for (let i = 0; i < 3; i++) t.equal((await app.inject({ url: '/auth/verify', headers: bearer(tokens.access_token) })).statusCode, 204)
  const refreshed = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: tokens.refresh_token } })
  t.equal(refreshed.statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: 'not-a-token' } })).statusCode, 401)
  await app.loginEvents.flush()

  const after = await scrape(app)
  t.equal(sample(after, 'warden_logins_total', { outcome: 'success', reason: 'none' }), 1, 'the successful login')
  t.equal(sample(after, 'warden_logins_total', { outcome: 'failure', reason: 'bad_password' }), 1, 'the wrong password')
  t.equal(sample(after, 'warden_logins_total', { outcome: 'failure', reason: 'unknown_user' }), 1, 'the unknown user')
  t.equal(sample(after, 'warden_refreshes_total', { outcome: 'success', reason: 'none' }), 1, 'the refresh')
  t.equal(sample(after, 'warden_token_cache_misses_total') - sample(before, 'warden_token_cache_misses_total'), 1, 'the first check verifies the signature')
  t.equal(sample(after, 'warden_token_cache_hits_total') - sample(before, 'warden_token_cache_hits_total'), 2, 'the next two come from the cache')
  // register, login success, bad password, unknown user, refresh
  t.ok(sample(after, 'warden_login_events_written_total') - sample(before, 'warden_login_events_written_total') >= 5, 'the events are counted as written')
  t.ok(sample(after, 'warden_login_event_batch_size_count') >= 1, 'in batches')
  t.ok(sample(after, 'warden_login_event_write_duration_seconds_count') >= 1)
  t.equal(sample(after, 'warden_login_events_spool_depth'), 0)
  t.equal(sample(after, 'warden_login_events_indexed'), app.loginEvents.ordered ? 1 : 0, 'whether history pages come from indexes')
  t.equal(sample(after, 'warden_http_requests_total', { route: '/auth/verify', method: 'GET', status_code: '204' }), 3)
  t.equal(sample(after, 'warden_http_request_duration_seconds_count', { route: '/auth/verify', method: 'GET', status_code: '204' }), 3)
  t.equal(sample(after, 'warden_http_requests_total', { route: '/auth/login', method: 'POST', status_code: '401' }), 2)
  t.equal(sample(after, 'warden_http_requests_total', { route: '/metrics', method: 'GET', status_code: '200' }), 2, 'the scrapes before this one')
})

t.test('requests are labelled by route pattern, never by the path they asked', async (t) => {
  const { app, admin } = await buildWithAdmin(t)
  const id = await createUser(app, admin.token, 'bob')
  const asAdmin = as(app, admin.token)
  t.equal((await asAdmin({ url: `/admin/users/${id}` })).statusCode, 200)
  t.equal((await asAdmin({ method: 'POST', url: `/admin/users/${id}/lock`, payload: {} })).statusCode, 200)
  t.equal((await asAdmin({ method: 'POST', url: `/admin/users/${id}/unlock` })).statusCode, 200)
  t.equal((await app.inject({ url: `/no/such/${id}` })).statusCode, 404)
  t.equal((await app.inject({ url: '/another/unknown/path' })).statusCode, 404)
  await app.loginEvents.flush()

  const text = await scrape(app)
  t.equal(sample(text, 'warden_http_requests_total', { route: '/admin/users/:id', method: 'GET', status_code: '200' }), 1)
  t.equal(sample(text, 'warden_http_requests_total', { route: '/admin/users/:id/lock', method: 'POST', status_code: '200' }), 1)
  t.equal(sample(text, 'warden_http_requests_total', { route: 'unmatched', method: 'GET', status_code: '404' }), 2, 'unknown paths share one label value')
  t.notMatch(text, id, 'no user id in any label')
  t.notMatch(text, '/another/unknown/path')
  t.equal(sample(text, 'warden_locks_total', { reason: 'admin' }), 1, 'the admin lock')
  t.equal(sample(text, 'warden_unlocks_total', { reason: 'admin' }), 1, 'the admin unlock')
})

t.test('a throttled login and an automatic lock are counted by reason', async (t) => {
  const app = await build(t, { THROTTLE_THRESHOLD: '2', LOCKOUT_THRESHOLD: '3' })
  await register(app, 'alice')
  const from = (ip: string) => ({ method: 'POST' as const, url: '/auth/login', remoteAddress: ip, payload: { username: 'alice', password: 'wrong password' } })
  // two failures from one address throttle it; one more from another reaches the lock threshold
  t.equal((await app.inject(from('192.0.2.1'))).statusCode, 401)
  t.equal((await app.inject(from('192.0.2.1'))).statusCode, 401)
  t.equal((await app.inject(from('192.0.2.1'))).statusCode, 429)
  t.equal((await app.inject(from('192.0.2.2'))).statusCode, 401)
  t.equal((await app.inject({ ...from('192.0.2.3'), payload: { username: 'alice', password: PASSWORD } })).statusCode, 403)
  await app.loginEvents.flush()
  const text = await scrape(app)
  t.equal(sample(text, 'warden_logins_total', { outcome: 'failure', reason: 'throttled' }), 1)
  t.equal(sample(text, 'warden_logins_total', { outcome: 'failure', reason: 'bad_password' }), 3)
  t.equal(sample(text, 'warden_logins_total', { outcome: 'failure', reason: 'account_locked' }), 1)
  t.equal(sample(text, 'warden_locks_total', { reason: 'auto_threshold' }), 1)
})

t.test('other addresses get 403 forbidden unless METRICS_ALLOW covers them', async (t) => {
  const app = await build(t)
  for (const remoteAddress of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
    t.equal((await app.inject({ url: '/metrics', remoteAddress })).statusCode, 200, remoteAddress)
  }
  for (const remoteAddress of ['10.1.2.3', '192.0.2.1', '2001:db8::1', '::ffff:10.1.2.3']) {
    const res = await app.inject({ url: '/metrics', remoteAddress })
    t.equal(res.statusCode, 403, remoteAddress)
    t.same(res.json(), { error: 'forbidden', message: 'This action requires a loopback address or one listed in METRICS_ALLOW' })
  }
  const forwarded = await app.inject({ url: '/metrics', remoteAddress: '10.1.2.3', headers: { 'x-forwarded-for': '127.0.0.1' } })
  t.equal(forwarded.statusCode, 403, 'a forwarded header is not believed without TRUST_PROXY')

  const allowing = await build(t, { METRICS_ALLOW: '10.0.0.0/8, 2001:db8::1' })
  t.equal((await allowing.inject({ url: '/metrics', remoteAddress: '10.1.2.3' })).statusCode, 200, 'in the listed subnet')
  t.equal((await allowing.inject({ url: '/metrics', remoteAddress: '2001:db8::1' })).statusCode, 200, 'the listed address')
  t.equal((await allowing.inject({ url: '/metrics', remoteAddress: '192.0.2.1' })).statusCode, 403, 'outside the list')
  t.equal((await allowing.inject({ url: '/metrics' })).statusCode, 200, 'loopback still')

  const anyone = await build(t, { METRICS_ALLOW: 'any' })
  t.equal((await anyone.inject({ url: '/metrics', remoteAddress: '203.0.113.9' })).statusCode, 200)

  // Behind a trusted proxy, the address that counts is the client's the proxy reports.
  const proxied = await build(t, { TRUST_PROXY: '10.0.0.0/8', METRICS_ALLOW: '198.51.100.0/24' })
  const via = (client: string) => proxied.inject({ url: '/metrics', remoteAddress: '10.0.0.5', headers: { 'x-forwarded-for': client } })
  t.equal((await via('198.51.100.7')).statusCode, 200, 'an allowed client through the proxy')
  t.equal((await via('203.0.113.9')).statusCode, 403, 'any other client through the proxy')
})

t.test('the OpenAPI document describes /metrics as public text', async (t) => {
  const app = await build(t)
  const doc = (await app.inject({ url: '/docs/json' })).json()
  const op = doc.paths['/metrics'].get
  t.ok(op.responses['200'].content['text/plain'], 'a text/plain 200')
  t.ok(op.responses['403'], 'and the 403')
  t.notOk(op.security, 'no bearer token asked')
})

t.test('a change made on another instance is counted with its propagation lag', async (t) => {
  const env = { MONGODB_URI: testDatabaseUri(), PROPAGATION_POLL_INTERVAL: '1s' }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  const { app: a, admin } = await buildWithAdmin(t, env)
  const b = await build(t, env)
  const id = await createUser(a, admin.token, 'bob')
  const { access_token: token } = await login(b, 'bob')
  t.equal((await as(a, admin.token)({ method: 'POST', url: `/admin/users/${id}/lock`, payload: {} })).statusCode, 200)
  // b learns of the lock by its poll of the state-change feed
  await eventually(async () => (await b.inject({ url: '/auth/verify', headers: bearer(token) })).statusCode === 403, 10_000, 'the lock to reach b')
  const text = await scrape(b)
  t.ok(sample(text, 'warden_propagation_lag_seconds_count', { transport: 'poll' }) >= 1, 'counted as carried by the poll')
  const lag = sample(text, 'warden_propagation_lag_seconds_sum', { transport: 'poll' })
  t.ok(lag >= 0 && lag < 10, `a lag within the poll's reach (${lag} s)`)
  t.equal(sample(await scrape(a), 'warden_propagation_lag_seconds_count', { transport: 'poll' }), 0, 'the instance that made it receives nothing')
})

t.test('with Redis, the lag of a change is counted under the redis transport', async (t) => {
  const REDIS_URL = (await startRedis(t)).url
  // A poll interval far longer than the test: only Redis can carry the change in time.
  const env = { MONGODB_URI: testDatabaseUri(), REDIS_URL, PROPAGATION_POLL_INTERVAL: '600' }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  const a = await build(t, env)
  const b = await build(t, env)
  const { user, tokens } = await signUp(a)
  await a.accountState.lock(user.id, { reason: 'admin' })
  await eventually(async () => (await b.inject({ url: '/auth/verify', headers: bearer(tokens.access_token) })).statusCode === 403, 10_000, 'the lock to reach b')
  const text = await scrape(b)
  t.equal(sample(text, 'warden_propagation_lag_seconds_count', { transport: 'redis' }), 1)
  t.equal(sample(text, 'warden_propagation_lag_seconds_count', { transport: 'poll' }), 0)
})
