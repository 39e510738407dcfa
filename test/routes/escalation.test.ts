/** Privilege escalation: every way a caller might gain a role or a permission it was not given. */
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose'
import { bearer, decodePart, forge, login, signUp, PASSWORD } from '../helper'
import { as, buildWithAdmin, createUser } from '../admin'

t.test('a user cannot change their own roles', async (t) => {
  const { app } = await buildWithAdmin(t)
  const { user, tokens } = await signUp(app, 'mallory')
  const self = as(app, tokens.access_token)
  for (const [method, url, payload] of [
    ['PATCH', `/admin/users/${user.id}`, { roles: ['admin'] }],
    ['POST', '/admin/users', { username: 'mallory2', password: PASSWORD, roles: ['admin'] }],
    ['POST', `/admin/users/${user.id}/unlock`, undefined]
  ] as const) {
    const res = await self({ method, url, payload })
    t.equal(res.statusCode, 403, `${method} ${url}`)
    t.match(res.json(), { error: 'forbidden', message: /^This action requires the admin:users:\w+ permission$/ })
  }
  const me = await self({ method: 'PATCH', url: '/users/me', payload: { roles: ['admin'] } })
  t.equal(me.statusCode, 405, 'there is no self-service role change: /users/me only reads')
  t.same((await app.users.findById(user.id))?.roles, ['user'])
  t.same(decodePart((await login(app, 'mallory')).access_token, 1).roles, ['user'])
})

t.test('a roles claim signed by an attacker\'s key is refused', async (t) => {
  const { app } = await buildWithAdmin(t)
  const { user } = await signUp(app, 'mallory')
  const { publicKey, privateKey } = await generateKeyPair('RS256')
  const jwk = await exportJWK(publicKey)
  const now = Math.floor(Date.now() / 1000)
  const claims = {
    iss: app.config.jwt.issuer, aud: app.config.jwt.audience[0], sub: user.id, sid: 'attacker', jti: 'attacker',
    roles: ['admin'], preferred_username: 'mallory', iat: now, exp: now + 300
  }
  const sign = (header: Record<string, unknown>) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', ...header }).sign(privateKey)
  const tokens = {
    'Warden\'s kid': await sign({ kid: app.tokens.kid }),
    'the attacker\'s own kid': await sign({ kid: await calculateJwkThumbprint(jwk) }),
    'the attacker\'s key embedded (jwk header)': await sign({ kid: app.tokens.kid, jwk }),
    'a key URL of the attacker (jku header)': await sign({ kid: app.tokens.kid, jku: 'https://evil.example/jwks.json' }),
    'the attacker\'s key embedded, with no kid (jwk header)': await sign({ jwk }),
    'the attacker\'s key embedded under its own kid (jwk header)': await sign({ kid: await calculateJwkThumbprint(jwk), jwk }),
    'a certificate URL of the attacker (x5u header)': await sign({ kid: app.tokens.kid, x5u: 'https://evil.example/cert.pem' })
  }
  for (const [name, token] of Object.entries(tokens)) {
    for (const url of ['/admin/users', '/auth/verify']) {
      const res = await app.inject({ url, headers: bearer(token) })
      t.equal(res.statusCode, 401, `${name}: ${url}`)
      t.equal(res.json().error, 'invalid_token', `${name}: ${url}`)
    }
  }
})

t.test('a token Warden signed is judged by Warden\'s keys whatever jku, x5u or jwk headers it carries', async (t) => {
  const { app } = await buildWithAdmin(t)
  const { user } = await signUp(app, 'mallory')
  const { publicKey } = await generateKeyPair('RS256')
  const jwk = await exportJWK(publicKey)
  const claims = { sub: user.id, preferred_username: 'mallory', roles: ['user'] }
  for (const [name, header] of Object.entries({
    jku: { jku: 'https://evil.example/jwks.json' },
    x5u: { x5u: 'https://evil.example/cert.pem' },
    jwk: { jwk },
    'all three': { jku: 'https://evil.example/jwks.json', x5u: 'https://evil.example/cert.pem', jwk }
  })) {
    const token = await forge(app, claims, header)
    const res = await app.inject({ url: '/auth/verify', headers: bearer(token) })
    t.equal(res.statusCode, 204, `${name}: verified with Warden's key`)
    t.equal(res.headers['x-auth-user-id'], user.id, name)
  }
  // and Warden's key is still the only one that counts: the same claims, tampered, fail
  const token = await forge(app, claims, { jwk })
  const [head, , signature] = token.split('.')
  const body = Buffer.from(JSON.stringify({ ...decodePart(token, 1), roles: ['admin'] })).toString('base64url')
  const tampered = await app.inject({ url: '/auth/verify', headers: bearer(`${head}.${body}.${signature}`) })
  t.equal(tampered.statusCode, 401, 'a changed payload under a header that embeds a key is refused')
  t.equal(tampered.json().error, 'invalid_token')
})

t.test('permissions come from the role map, never from the token', async (t) => {
  const { app } = await buildWithAdmin(t)
  const { user } = await signUp(app, 'mallory')
  // Signed with Warden's own key, so only the claims are under test.
  const token = await forge(app, {
    sub: user.id, preferred_username: 'mallory', roles: ['user'],
    permissions: ['admin:*'], scope: 'admin:users:read admin:*', scp: ['admin:*']
  })
  const res = await app.inject({ url: '/admin/users', headers: bearer(token) })
  t.equal(res.statusCode, 403)
  t.equal(res.json().error, 'forbidden')
  const unknownRole = await forge(app, { sub: user.id, roles: ['superuser', 'root'] })
  t.equal((await app.inject({ url: '/admin/users', headers: bearer(unknownRole) })).statusCode, 403, 'a role the map does not know grants nothing')
})

t.test('roles and lock fields in /auth/register are dropped (mass assignment)', async (t) => {
  const { app } = await buildWithAdmin(t)
  const res = await app.inject({
    method: 'POST',
    url: '/auth/register',
    payload: {
      username: 'mallory', password: PASSWORD,
      roles: ['admin'], role: 'admin', locked_until: null, lock_reason: null, lock_note: 'x', locked: false,
      password_hash: '$argon2id$v=19$m=19456,t=2,p=1$AAAA$BBBB', _id: '0123456789abcdef01234567',
      username_key: 'root', created_at: '2000-01-01T00:00:00Z', last_login_at: '2000-01-01T00:00:00Z'
    }
  })
  t.equal(res.statusCode, 201)
  t.same(res.json().roles, ['user'])
  t.not(res.json().id, '0123456789abcdef01234567')
  const stored = await app.users.findById(res.json().id)
  t.match(stored, { username: 'mallory', usernameKey: 'mallory', roles: ['user'], lockedUntil: null, lockReason: null, lockNote: null, lastLoginAt: null })
  t.ok((stored?.createdAt.getTime() ?? 0) > Date.now() - 60_000)
  t.notMatch(stored?.passwordHash, /AAAA\$BBBB/)

  // A lock cannot be planted at sign-up to lock someone out either.
  const planted = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'victim', password: PASSWORD, locked_until: '2999-01-01T00:00:00Z', lock_reason: 'admin' } })
  t.equal(planted.statusCode, 201)
  t.equal((await login(app, 'victim')).token_type, 'Bearer', 'not locked')

  const { access_token: token } = await login(app, 'mallory')
  t.equal((await app.inject({ url: '/admin/users', headers: bearer(token) })).statusCode, 403)
})

t.test('admin bodies take only their declared fields', async (t) => {
  const { app, admin } = await buildWithAdmin(t)
  const id = await createUser(app, admin.token, 'bob')
  const before = await app.users.findById(id)
  const res = await as(app, admin.token)({
    method: 'PATCH',
    url: `/admin/users/${id}`,
    payload: { email: 'bob@example.com', username: 'root', password_hash: 'x', locked_until: '2999-01-01T00:00:00Z', lock_reason: 'admin', created_at: '2000-01-01T00:00:00Z' }
  })
  t.equal(res.statusCode, 200)
  t.match(res.json(), { username: 'bob', email: 'bob@example.com', locked: false })
  const after = await app.users.findById(id)
  t.same({ ...after, email: null }, before, 'only the email changed')
  await login(app, 'bob')
})

t.test('the last unlocked admin cannot be deleted or demoted', async (t) => {
  const { app, admin } = await buildWithAdmin(t)
  const root = as(app, admin.token)
  const refusals = [
    await root({ method: 'DELETE', url: `/admin/users/${admin.id}` }),
    await root({ method: 'PATCH', url: `/admin/users/${admin.id}`, payload: { roles: ['user'] } })
  ]
  for (const res of refusals) {
    t.equal(res.statusCode, 409)
    t.same(res.json(), { error: 'last_admin', message: 'This would leave no active administrator: make another account an admin first' })
  }
  t.same((await app.users.findById(admin.id))?.roles, ['admin', 'user'], 'still an admin')
  t.equal((await root({ url: '/admin/users' })).statusCode, 200, 'and still signed in')

  // A second admin who is locked does not count: the other would be the last one in.
  const second = await createUser(app, admin.token, 'second', ['admin'])
  t.equal((await root({ method: 'POST', url: `/admin/users/${second}/lock`, payload: {} })).statusCode, 200)
  t.equal((await root({ method: 'PATCH', url: `/admin/users/${admin.id}`, payload: { roles: [] } })).statusCode, 409)
  t.equal((await root({ method: 'POST', url: `/admin/users/${second}/unlock` })).statusCode, 200)

  // With another admin in, the first may step down; their admin token ends at once.
  const secondToken = (await login(app, 'second')).access_token
  t.equal((await as(app, secondToken)({ method: 'POST', url: `/admin/users/${admin.id}/lock`, payload: {} })).statusCode, 200)
  t.equal((await as(app, secondToken)({ method: 'POST', url: `/admin/users/${admin.id}/unlock` })).statusCode, 200)
  const stepDown = await root({ method: 'PATCH', url: `/admin/users/${admin.id}`, payload: { roles: ['user'] } })
  t.equal(stepDown.statusCode, 200)
  t.equal((await root({ url: '/admin/users' })).json().error, 'token_revoked')
  // ...and now the second admin is the last one.
  const last = await as(app, secondToken)({ method: 'DELETE', url: `/admin/users/${second}` })
  t.equal(last.statusCode, 409)
  t.equal(last.json().error, 'last_admin')
  const [event] = await app.loginEvents.find({ userId: second, type: 'admin_delete' })
  t.match(event, { outcome: 'failure', reason: 'last_admin', actor_id: second })
})

t.test('two admins demoting each other at once leave one admin', async (t) => {
  const { app, admin } = await buildWithAdmin(t)
  const other = await createUser(app, admin.token, 'other', ['admin'])
  const otherToken = (await login(app, 'other')).access_token
  const [a, b] = await Promise.all([
    as(app, admin.token)({ method: 'PATCH', url: `/admin/users/${other}`, payload: { roles: [] } }),
    as(app, otherToken)({ method: 'PATCH', url: `/admin/users/${admin.id}`, payload: { roles: [] } })
  ])
  t.not(a.statusCode === 200 && b.statusCode === 200, true, `not both (${a.statusCode}, ${b.statusCode})`)
  for (const res of [a, b]) t.ok(res.statusCode === 200 || res.json().error === 'last_admin', res.body)
  t.ok(await app.users.countActiveWithRole('admin', new Date()) >= 1, 'an admin remains')
})

t.test('a role with some admin permissions cannot hand out more than it has', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-rbac-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'rbac.yaml')
  writeFileSync(file, [
    'admin: ["admin:*"]',
    'user: []',
    'support: ["admin:users:read", "admin:users:update"]',
    'auditor: ["admin:users:read"]',
    'guard: ["admin:users:lock"]'
  ].join('\n'))
  const { app, admin } = await buildWithAdmin(t, { RBAC_FILE: file })
  const helper = await createUser(app, admin.token, 'helper', ['support'])
  const bob = await createUser(app, admin.token, 'bob')
  const support = as(app, (await login(app, 'helper')).access_token)

  t.equal((await support({ url: '/admin/users' })).statusCode, 200, 'support reads')
  t.equal((await support({ method: 'PATCH', url: `/admin/users/${bob}`, payload: { email: 'bob@example.com' } })).statusCode, 200, 'and updates emails')
  t.equal((await support({ method: 'PATCH', url: `/admin/users/${bob}`, payload: { roles: ['auditor'] } })).statusCode, 200, 'and grants what it holds')
  for (const [target, roles] of [[helper, ['support', 'admin']], [bob, ['admin']], [admin.id, ['user']]] as const) {
    const res = await support({ method: 'PATCH', url: `/admin/users/${target}`, payload: { roles } })
    t.equal(res.statusCode, 403, JSON.stringify(roles))
    t.same(res.json(), { error: 'forbidden', message: 'This action requires the admin:* permission' })
  }
  const lock = await support({ method: 'POST', url: `/admin/users/${bob}/lock`, payload: {} })
  t.equal(lock.statusCode, 403)
  t.equal(lock.json().message, 'This action requires the admin:users:lock permission')
  t.same((await app.users.findById(helper))?.roles, ['user', 'support'])
  t.same((await app.users.findById(admin.id))?.roles, ['admin', 'user'])

  // A role that may lock accounts still cannot lock out the last admin.
  await createUser(app, admin.token, 'guard', ['guard'])
  const guard = as(app, (await login(app, 'guard')).access_token)
  t.equal((await guard({ method: 'POST', url: `/admin/users/${bob}/lock`, payload: {} })).statusCode, 200)
  const lockout = await guard({ method: 'POST', url: `/admin/users/${admin.id}/lock`, payload: {} })
  t.equal(lockout.statusCode, 409)
  t.equal(lockout.json().error, 'last_admin')
  t.equal((await as(app, admin.token)({ url: '/admin/users' })).statusCode, 200, 'the admin is still in')
})
