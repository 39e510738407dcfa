import t from 'tap'
import { build, register, bearer, PASSWORD } from '../helper'
import { attempt, ip, PROXIED, WRONG } from '../brute-force'

const OWNER = ip(1)

t.test('a login hands out a device token: in the body for API clients and as a secure cookie for browsers', async (t) => {
  const app = await build(t)
  await register(app)
  const res = await attempt(app, 'alice', PASSWORD)
  t.equal(res.statusCode, 200)
  const token = res.json().device_token
  t.match(token, /^[A-Za-z0-9_-]{43}$/)
  const cookie = String(res.headers['set-cookie'])
  t.match(cookie, new RegExp(`^warden_device=${token};`))
  for (const attribute of ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/auth/login', `Max-Age=${90 * 86400}`]) t.match(cookie, attribute)
  const stored = JSON.stringify(await app.db.connection.collection('devices').find({}).toArray())
  t.notMatch(stored, token, 'only the hash is stored')

  const again = await attempt(app, 'alice', PASSWORD, { deviceToken: token })
  t.equal(again.json().device_token, token, 'a known device keeps its token')
})

t.test('a known device still logs in while the account is locked by failures from elsewhere; its new session works, older tokens do not', async (t) => {
  const app = await build(t, { ...PROXIED, LOCKOUT_THRESHOLD: '3' })
  const user = await register(app)
  const first = (await attempt(app, 'alice', PASSWORD, { ip: OWNER })).json()

  // an attacker elsewhere locks the account
  for (let i = 0; i < 3; i++) t.equal((await attempt(app, 'alice', WRONG, { ip: ip(100 + i) })).statusCode, 401)
  t.equal(app.accountState.lockOf(user.id)?.reason, 'auto_threshold')
  t.equal((await attempt(app, 'alice', PASSWORD, { ip: OWNER })).statusCode, 403, 'without its device token the owner is locked out too')
  t.equal((await app.inject({ url: '/users/me', headers: bearer(first.access_token) })).statusCode, 403, 'the live token of before the lock is refused')

  const viaBody = await attempt(app, 'alice', PASSWORD, { ip: OWNER, deviceToken: first.device_token })
  t.equal(viaBody.statusCode, 200, 'the known device (body) logs in')
  const viaCookie = await attempt(app, 'alice', PASSWORD, { ip: OWNER, cookie: `warden_device=${first.device_token}` })
  t.equal(viaCookie.statusCode, 200, 'the known device (cookie) logs in')
  for (const url of ['/users/me', '/auth/verify']) {
    t.ok([200, 204].includes((await app.inject({ url, headers: bearer(viaBody.json().access_token) })).statusCode), `the device's new token opens ${url}`)
  }
  t.equal(app.accountState.lockOf(user.id)?.reason, 'auto_threshold', 'the account stays locked for everyone else')
  t.equal((await attempt(app, 'alice', PASSWORD, { ip: ip(150) })).statusCode, 403)
})

t.test('failures that come with a device token count against that device only', async (t) => {
  const app = await build(t, { ...PROXIED, LOCKOUT_THRESHOLD: '3' })
  const user = await register(app)
  const device = (await attempt(app, 'alice', PASSWORD, { ip: OWNER })).json().device_token as string
  for (let i = 0; i < 3; i++) t.equal((await attempt(app, 'alice', WRONG, { ip: ip(50 + i), deviceToken: device })).statusCode, 401)
  const locked = await attempt(app, 'alice', PASSWORD, { ip: OWNER, deviceToken: device })
  t.equal(locked.statusCode, 403, 'the device is locked after LOCKOUT_THRESHOLD failures')
  t.equal(locked.json().error, 'account_locked')
  t.equal(locked.headers['retry-after'], '900')
  t.equal(app.accountState.isLocked(user.id), false, 'the account is not')
  t.equal((await attempt(app, 'alice', PASSWORD, { ip: OWNER })).statusCode, 200, 'the account logs in without that device')
  const events = await app.loginEvents.find({ type: 'lock' })
  t.match(events, [{ reason: 'device_threshold', actor_id: 'system' }])
})

t.test("another user's device token, or a made-up one, is no known device", async (t) => {
  const app = await build(t, { ...PROXIED, LOCKOUT_THRESHOLD: '2' })
  await register(app, 'alice')
  await register(app, 'bob')
  const bobs = (await attempt(app, 'bob', PASSWORD)).json().device_token as string
  for (let i = 0; i < 2; i++) await attempt(app, 'alice', WRONG, { ip: ip(i) })
  t.equal((await attempt(app, 'alice', PASSWORD, { deviceToken: bobs })).statusCode, 403)
  t.equal((await attempt(app, 'alice', PASSWORD, { deviceToken: 'x'.repeat(43) })).statusCode, 403)
})

t.test('an admin lock blocks every device, and every session a device opened', async (t) => {
  const app = await build(t, { ...PROXIED, LOCKOUT_THRESHOLD: '2' })
  const user = await register(app)
  const device = (await attempt(app, 'alice', PASSWORD, { ip: OWNER })).json().device_token as string
  for (let i = 0; i < 2; i++) await attempt(app, 'alice', WRONG, { ip: ip(100 + i) })
  const during = (await attempt(app, 'alice', PASSWORD, { ip: OWNER, deviceToken: device })).json()
  t.equal((await app.inject({ url: '/auth/verify', headers: bearer(during.access_token) })).statusCode, 204)

  await app.accountState.lock(user.id, { until: new Date(Date.now() + 60_000), reason: 'admin' })
  const res = await attempt(app, 'alice', PASSWORD, { ip: OWNER, deviceToken: device })
  t.equal(res.statusCode, 403)
  t.equal(res.json().error, 'account_locked')
  t.equal((await app.inject({ url: '/auth/verify', headers: bearer(during.access_token) })).statusCode, 403, "the device's session is refused")
})

t.test('KNOWN_DEVICES=false: no device token, and a device token changes nothing', async (t) => {
  const app = await build(t, { ...PROXIED, LOCKOUT_THRESHOLD: '2', KNOWN_DEVICES: 'false' })
  await register(app)
  const res = await attempt(app, 'alice', PASSWORD)
  t.equal(res.json().device_token, undefined)
  t.notOk(res.headers['set-cookie'])
  for (let i = 0; i < 2; i++) await attempt(app, 'alice', WRONG, { ip: ip(i) })
  t.equal((await attempt(app, 'alice', PASSWORD, { deviceToken: 'anything' })).statusCode, 403)
})

t.test('a user keeps the 20 most recently used devices: the oldest is forgotten and its token no longer counts as known', async (t) => {
  const app = await build(t, { ...PROXIED, LOCKOUT_THRESHOLD: '3' })
  const user = await register(app)
  const tokens: string[] = []
  for (let i = 0; i < 21; i++) {
    const res = await attempt(app, 'alice', PASSWORD, { ip: ip(i + 10) })
    t.equal(res.statusCode, 200)
    tokens.push(res.json().device_token)
  }
  const devices = app.db.connection.collection('devices')
  const deadline = Date.now() + 10_000
  while (await devices.countDocuments({ user_id: user.id }) > 20 && Date.now() < deadline) await new Promise((resolve) => { setImmediate(resolve) })
  t.equal(await devices.countDocuments({ user_id: user.id }), 20, '20 devices kept')

  // an automatic lock: the newest device still gets in, the forgotten first one does not
  for (let i = 0; i < 3; i++) await attempt(app, 'alice', `${WRONG} ${i}`, { ip: ip(200 + i) })
  t.equal((await attempt(app, 'alice', PASSWORD, { ip: ip(210), deviceToken: tokens[20] })).statusCode, 200, 'the newest device passes the lock')
  t.equal((await attempt(app, 'alice', PASSWORD, { ip: ip(211), deviceToken: tokens[0] })).statusCode, 403, 'the forgotten one meets it')
})
