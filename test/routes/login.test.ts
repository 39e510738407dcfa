import t from 'tap'
import { build, register, login, decodePart, PASSWORD } from '../helper'

t.test('returns the contract token response', async (t) => {
  const app = await build(t)
  const user = await register(app, 'Alice')
  const res = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'alice', password: PASSWORD } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  const body = res.json()
  t.match(body, { access_token: String, token_type: 'Bearer', expires_in: 900, refresh_token: /^[A-Za-z0-9_-]{43}$/ })

  const header = decodePart(body.access_token, 0)
  t.same(header, { alg: 'RS256', typ: 'at+jwt', kid: app.tokens.kid })
  const claims = decodePart(body.access_token, 1)
  t.match(claims, {
    iss: 'http://localhost:3000',
    aud: 'warden',
    sub: user.id,
    jti: String,
    sid: String,
    roles: ['user'],
    preferred_username: 'Alice'
  })
  t.equal((claims.exp as number) - (claims.iat as number), 900, 'ACCESS_TOKEN_TTL default 15m')
})

t.test('each login opens its own session with a hashed refresh token', async (t) => {
  const app = await build(t)
  const user = await register(app)
  const first = await login(app)
  const second = await login(app)
  const sid1 = decodePart(first.access_token, 1).sid
  const sid2 = decodePart(second.access_token, 1).sid
  t.not(sid1, sid2)
  const sessions = await app.sessions.listLive(user.id)
  t.same(sessions.map((s) => s.id).sort(), [sid1, sid2].sort())
  const stored = await app.db.connection.collection('sessions').find({}).toArray()
  t.equal(stored.length, 2)
  t.notMatch(JSON.stringify(stored), first.refresh_token, 'refresh token is not stored in clear')
})

t.test('unknown user and wrong password get the same 401 body', async (t) => {
  const app = await build(t)
  await register(app)
  const unknown = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'mallory', password: PASSWORD } })
  const wrong = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'alice', password: 'not the password' } })
  t.equal(unknown.statusCode, 401)
  t.equal(wrong.statusCode, 401)
  t.equal(unknown.body, wrong.body)
  t.same(unknown.json(), { error: 'invalid_credentials', message: 'Invalid username or password' })
  t.notOk(unknown.headers['www-authenticate'], 'no bearer challenge on the login endpoint')
})

t.test('every attempt becomes a login event; none holds a secret', async (t) => {
  const app = await build(t)
  const user = await register(app)
  const tokens = await login(app, 'ALICE')
  await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'alice', password: 'wrong password!' } })
  await app.inject({ method: 'POST', url: '/auth/login', headers: { 'user-agent': 'probe/1.0' }, payload: { username: 'nobody', password: 'whatever-it-is' } })
  const events = (await app.loginEvents.find({ type: 'login' })).reverse()
  t.match(events, [
    { outcome: 'success', username: 'alice', session_id: decodePart(tokens.access_token, 1).sid },
    { outcome: 'failure', reason: 'bad_password', username: 'alice' },
    { outcome: 'failure', reason: 'unknown_user', username: 'nobody', user_id: null, user_agent: 'probe/1.0' }
  ])
  t.equal(String(events[0].user_id), user.id)
  const text = JSON.stringify(events)
  for (const secret of [PASSWORD, 'wrong password!', 'whatever-it-is', tokens.access_token, tokens.refresh_token]) {
    t.notMatch(text, secret)
  }
})

t.test('login updates last_login_at shown by /users/me', async (t) => {
  const app = await build(t)
  await register(app)
  const tokens = await login(app)
  const me = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${tokens.access_token}` } })
  t.equal(me.statusCode, 200)
  t.ok(Date.parse(me.json().last_login_at) > Date.now() - 60_000)
})

t.test('a locked account cannot log in even with the right password', async (t) => {
  const app = await build(t)
  const user = await register(app)
  await app.accountState.lock(user.id, { until: new Date(Date.now() + 60_000), reason: 'admin' })
  const res = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'alice', password: PASSWORD } })
  t.equal(res.statusCode, 403)
  t.equal(res.json().error, 'account_locked')
  const [event] = await app.loginEvents.find({ type: 'login' })
  t.match(event, { outcome: 'failure', reason: 'account_locked' })
})

t.test('malformed login input is a 400 and never reaches the database as an operator', async (t) => {
  const app = await build(t)
  await register(app)
  for (const payload of [{ username: { $ne: null }, password: PASSWORD }, { username: 'alice' }, { username: 'alice', password: '' }]) {
    const res = await app.inject({ method: 'POST', url: '/auth/login', payload })
    t.equal(res.statusCode, 400, JSON.stringify(payload))
    t.equal(res.json().error, 'validation_error')
  }
})

t.test('stored hashes made with weaker parameters are upgraded at the next login', async (t) => {
  const argon2 = await import('argon2')
  const app = await build(t)
  const user = await register(app)
  const weak = await argon2.hash(PASSWORD, { type: argon2.argon2id, memoryCost: 4096, timeCost: 1, parallelism: 1 })
  // as a database written by an older, cheaper configuration would hold it
  await app.db.connection.collection('users').updateOne({ username_key: 'alice' }, { $set: { password_hash: weak } })
  await login(app)
  const stored = await app.users.findById(user.id)
  t.not(stored?.passwordHash, weak)
  t.match(stored?.passwordHash, /m=19456/)
  await login(app) // still the same password
})

t.test('X-Forwarded-For is believed only when TRUST_PROXY says so', async (t) => {
  for (const [trust, expected] of [['false', '127.0.0.1'], ['true', '203.0.113.7']]) {
    const app = await build(t, { TRUST_PROXY: trust })
    await register(app)
    await app.inject({ method: 'POST', url: '/auth/login', headers: { 'x-forwarded-for': '203.0.113.7' }, payload: { username: 'alice', password: 'wrong password!' } })
    const [event] = await app.loginEvents.find({ type: 'login' })
    t.equal(event?.ip, expected, `TRUST_PROXY=${trust}`)
  }
})
