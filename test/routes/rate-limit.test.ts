import t from 'tap'
import { build, register, login, bearer, PASSWORD } from '../helper'
import { attempt, advanceClock, ip, PROXIED, WRONG } from '../brute-force'

t.test('a (username, address) pair is throttled after THROTTLE_THRESHOLD failures, longer with each further one', async (t) => {
  const app = await build(t, { ...PROXIED, THROTTLE_THRESHOLD: '3', THROTTLE_DELAY: '30s', THROTTLE_MAX_DELAY: '1m' })
  await register(app)
  for (let i = 0; i < 3; i++) t.equal((await attempt(app, 'alice', WRONG, { ip: ip(1) })).statusCode, 401)
  const throttled = await attempt(app, 'alice', PASSWORD, { ip: ip(1) })
  t.equal(throttled.statusCode, 429, 'even the right password waits')
  t.equal(throttled.headers['retry-after'], '30')
  t.equal((await attempt(app, 'alice', WRONG, { ip: ip(2) })).statusCode, 401, 'another address is not throttled')
  t.equal((await attempt(app, 'bob', WRONG, { ip: ip(1) })).statusCode, 401, 'another username from that address is not either')

  advanceClock(t, 31_000)
  t.equal((await attempt(app, 'alice', WRONG, { ip: ip(1) })).statusCode, 401, 'one attempt once the delay is over')
  t.equal((await attempt(app, 'alice', WRONG, { ip: ip(1) })).headers['retry-after'], '60', 'then twice the delay')
  advanceClock(t, 31_000 + 61_000)
  await attempt(app, 'alice', WRONG, { ip: ip(1) })
  t.equal((await attempt(app, 'alice', WRONG, { ip: ip(1) })).headers['retry-after'], '60', 'THROTTLE_MAX_DELAY caps it')

  advanceClock(t, 31_000 + 61_000 + 61_000)
  t.equal((await attempt(app, 'alice', PASSWORD, { ip: ip(1) })).statusCode, 200)
  for (let i = 0; i < 3; i++) t.equal((await attempt(app, 'alice', WRONG, { ip: ip(1) })).statusCode, 401, 'a success starts the pair over')
})

t.test('the throttle uses the socket address unless TRUST_PROXY says otherwise', async (t) => {
  const app = await build(t, { THROTTLE_THRESHOLD: '2' })
  await register(app)
  for (let i = 0; i < 2; i++) await attempt(app, 'alice', WRONG, { ip: ip(i) })
  t.equal((await attempt(app, 'alice', WRONG, { ip: ip(7) })).statusCode, 429, 'a forged X-Forwarded-For does not escape it')
})

t.test('IPv6 clients are throttled per /64: another address of the same /64 shares the pair, another /64 does not', async (t) => {
  const app = await build(t, { THROTTLE_THRESHOLD: '3' })
  await register(app)
  const from = (remoteAddress: string, password = WRONG) =>
    app.inject({ method: 'POST', url: '/auth/login', remoteAddress, payload: { username: 'alice', password } })
  for (const address of ['2001:db8:1:2::1', '2001:db8:1:2::2', '2001:db8:1:2:ffff:ffff:ffff:fffe']) {
    t.equal((await from(address)).statusCode, 401, `${address}: a wrong password`)
  }
  const sameSubnet = await from('2001:db8:1:2:abcd::9', PASSWORD)
  t.equal(sameSubnet.statusCode, 429, 'a fourth address of that /64 finds the pair throttled, right password or not')
  t.equal(sameSubnet.headers['retry-after'], '30')
  t.equal((await from('2001:db8:1:3::1', PASSWORD)).statusCode, 200, 'the neighbouring /64 is not throttled')
  t.equal((await from('198.51.100.7', PASSWORD)).statusCode, 200, 'nor an IPv4 client')
})

t.test('every route is rate limited per client address (RATE_LIMIT_MAX per RATE_LIMIT_WINDOW)', async (t) => {
  const app = await build(t, { ...PROXIED, RATE_LIMIT_MAX: '4', RATE_LIMIT_WINDOW: '1m' })
  for (let i = 0; i < 4; i++) t.equal((await app.inject({ url: '/health/live', headers: { 'x-forwarded-for': ip(1) } })).statusCode, 200)
  for (const url of ['/health/live', '/auth/verify', '/no/such/route']) {
    const res = await app.inject({ url, headers: { 'x-forwarded-for': ip(1) } })
    t.equal(res.statusCode, 429, url)
    t.same(res.json(), { error: 'too_many_attempts', message: 'Too many attempts; retry later' })
    t.ok(Number(res.headers['retry-after']) > 0 && Number(res.headers['retry-after']) <= 60, 'Retry-After')
  }
  t.equal((await app.inject({ url: '/health/live', headers: { 'x-forwarded-for': ip(2) } })).statusCode, 200, 'another address is not limited')
  advanceClock(t, 61_000)
  t.equal((await app.inject({ url: '/health/live', headers: { 'x-forwarded-for': ip(1) } })).statusCode, 200, 'a new window')
})

t.test('POST routes under /auth/ have the tighter RATE_LIMIT_AUTH_MAX; the forward-auth check does not', async (t) => {
  const app = await build(t, { ...PROXIED, RATE_LIMIT_AUTH_MAX: '3' })
  await register(app) // from 127.0.0.1
  const { access_token: token } = await login(app)
  const from = { 'x-forwarded-for': ip(1) }
  const posts = [
    app.inject({ method: 'POST', url: '/auth/unlock/request', headers: from, payload: { username: 'alice' } }),
    app.inject({ method: 'POST', url: '/auth/login', headers: from, payload: { username: 'alice', password: WRONG } }),
    app.inject({ method: 'POST', url: '/auth/unlock', headers: from, payload: { token: 'nope' } })
  ]
  t.same((await Promise.all(posts)).map((r) => r.statusCode), [202, 401, 400])
  const refused = await app.inject({ method: 'POST', url: '/auth/register', headers: from, payload: { username: 'bob', password: PASSWORD } })
  t.equal(refused.statusCode, 429)
  t.equal(refused.json().error, 'too_many_attempts')
  t.ok(refused.headers['retry-after'])
  for (let i = 0; i < 5; i++) t.equal((await app.inject({ url: '/auth/verify', headers: { ...from, ...bearer(token) } })).statusCode, 204)
  t.equal(app.limits.stats().rejected.auth, 1)
})

t.test('0 turns a tier off', async (t) => {
  const app = await build(t, { ...PROXIED, RATE_LIMIT_MAX: '0', RATE_LIMIT_AUTH_MAX: '0' })
  const answers = await Promise.all(Array.from({ length: 30 }, () => app.inject({ method: 'POST', url: '/auth/unlock/request', headers: { 'x-forwarded-for': ip(1) }, payload: { username: 'x' } })))
  t.same(new Set(answers.map((a) => a.statusCode)), new Set([202]))
})
