import t from 'tap'
import { build, register, PASSWORD } from '../helper'

t.test('creates a user with the default role', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'Alice', password: PASSWORD, email: 'alice@example.com' } })
  t.equal(res.statusCode, 201)
  const body = res.json()
  t.match(body, { id: /^[0-9a-f]{24}$/, username: 'Alice', roles: ['user'] })
  t.same(Object.keys(body).sort(), ['id', 'roles', 'username'])
})

t.test('usernames are case-insensitive and NFKC-normalised: one account', async (t) => {
  const app = await build(t)
  await register(app, 'Alice')
  for (const other of ['alice', ' ALICE ', 'ａｌｉｃｅ']) {
    const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: other, password: PASSWORD } })
    t.equal(res.statusCode, 409, other)
    t.same(res.json(), { error: 'username_taken', message: 'This username is already taken' })
  }
})

t.test('passwords are stored as argon2id hashes with at least the OWASP cost', async (t) => {
  const app = await build(t)
  const { id } = await register(app)
  const user = await app.users.findById(id)
  t.ok(user)
  t.notMatch(JSON.stringify(user), PASSWORD)
  const match = /^\$argon2id\$v=19\$([a-z0-9=,]+)\$/.exec(user?.passwordHash ?? '')
  t.ok(match, 'argon2id PHC string')
  const params = Object.fromEntries((match?.[1] ?? '').split(',').map((kv) => kv.split('=')))
  t.ok(Number(params.m) >= 19456, 'memory >= 19 MiB')
  t.ok(Number(params.t) >= 2, 'time cost >= 2')
  t.ok(Number(params.p) >= 1, 'parallelism >= 1')
})

t.test('the password policy answers 400 weak_password', async (t) => {
  const app = await build(t)
  const cases: Array<[string, string, RegExp]> = [
    ['equal to the username', 'Carol-the-admin', /not be the username/],
    ['equal to the username, other case', 'CAROL-THE-ADMIN', /not be the username/],
    ['common', 'password123', /too common/],
    ['common, other case', 'Qwertyuiop', /too common/]
  ]
  for (const [name, password, message] of cases) {
    const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'carol-the-admin', password } })
    t.equal(res.statusCode, 400, name)
    t.equal(res.json().error, 'weak_password', name)
    t.match(res.json().message, message, name)
  }
  t.notOk(await app.users.existsWithKey('carol-the-admin'), 'no account was created')
})

t.test('the password length is part of the schema: 400 validation_error naming the bound', async (t) => {
  const app = await build(t)
  const cases: Array<[string, string, RegExp]> = [
    ['short', 'Abc12!x', /fewer than 8 characters/],
    ['too long', 'x'.repeat(257), /more than 256 characters/],
    ['too long, in characters', 'é'.repeat(257), /more than 256 characters/]
  ]
  for (const [name, password, message] of cases) {
    const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'carol-the-admin', password } })
    t.equal(res.statusCode, 400, name)
    t.equal(res.json().error, 'validation_error', name)
    t.match(res.json().message, message, name)
  }
  t.equal(await app.db.connection.collection('users').countDocuments(), 0, 'no account was created')
})

t.test('a 256-character password with multi-byte characters is accepted', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'dave', password: 'é'.repeat(256) } })
  t.equal(res.statusCode, 201)
})

t.test('bad input is a 400 in the contract shape, never a 500', async (t) => {
  const app = await build(t)
  const bodies: unknown[] = [
    {},
    { username: 'alice' },
    { password: PASSWORD },
    { username: 'a', password: PASSWORD },
    { username: 'with space', password: PASSWORD },
    { username: 'x'.repeat(300), password: PASSWORD },
    { username: { $gt: '' }, password: PASSWORD },
    { username: 'alice', password: PASSWORD, email: 'not-an-email' },
    []
  ]
  for (const payload of bodies) {
    const res = await app.inject({ method: 'POST', url: '/auth/register', payload: payload as object })
    t.equal(res.statusCode, 400, JSON.stringify(payload))
    t.match(res.json(), { error: /^(validation_error|invalid_username)$/, message: String }, JSON.stringify(payload))
  }
  const raw = await app.inject({ method: 'POST', url: '/auth/register', headers: { 'content-type': 'application/json' }, payload: '{"username": ' })
  t.equal(raw.statusCode, 400)
  t.equal(raw.json().error, 'bad_request')
  t.notMatch(raw.body, /at \w+ \(/, 'no stack trace')
})

t.test('unknown properties are stripped, never stored', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'eve', password: PASSWORD, roles: ['admin'] } })
  t.equal(res.statusCode, 201)
  t.same(res.json().roles, ['user'], 'cannot self-assign roles')
})

t.test('closed registration answers 403 registration_closed', async (t) => {
  const app = await build(t, { REGISTRATION: 'closed' })
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'frank', password: PASSWORD } })
  t.equal(res.statusCode, 403)
  t.equal(res.json().error, 'registration_closed')
})

t.test('registration is recorded as a login event without the password', async (t) => {
  const app = await build(t)
  const { id } = await register(app, 'grace')
  await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'GRACE', password: PASSWORD } })
  const events = (await app.loginEvents.find({})).reverse()
  t.match(events, [
    { type: 'register', outcome: 'success', username: 'grace', ip: '127.0.0.1' },
    { type: 'register', outcome: 'failure', reason: 'username_taken' }
  ])
  t.equal(String(events[0].user_id), id)
  t.ok(events[0].request_id)
  t.notMatch(JSON.stringify(events), PASSWORD)
})

t.test('ADMIN_USERNAME/ADMIN_PASSWORD create the first admin at start', async (t) => {
  const app = await build(t, { ADMIN_USERNAME: 'root-admin', ADMIN_PASSWORD: 'a long admin passphrase' })
  const admin = await app.users.findByUsernameKey('root-admin')
  t.ok(admin)
  t.ok(admin?.roles.includes('admin'))
})
