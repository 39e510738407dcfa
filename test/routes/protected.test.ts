import t from 'tap'
import { build, signUp, login, bearer, forge, decodePart } from '../helper'
import { forgedTokens } from '../forged-tokens'
import { localOrigin } from '../../src/lib/origin'
import { testDatabaseUri, dropTestDatabase } from '../db'

const ROUTES = ['/users/me', '/auth/verify']

t.test('a valid token opens /users/me and /auth/verify', async (t) => {
  const app = await build(t)
  const { user, tokens } = await signUp(app, 'Alice')
  const me = await app.inject({ url: '/users/me', headers: bearer(tokens.access_token) })
  t.equal(me.statusCode, 200)
  t.match(me.json(), { id: user.id, username: 'Alice', roles: ['user'], created_at: String, last_login_at: String })

  const verify = await app.inject({ url: '/auth/verify', headers: bearer(tokens.access_token) })
  t.equal(verify.statusCode, 204)
  t.equal(verify.body, '')
  t.equal(verify.headers['x-auth-user-id'], user.id)
  t.equal(verify.headers['x-auth-username'], 'Alice')
  t.equal(verify.headers['x-auth-roles'], 'user')
})

t.test('the bearer scheme is case-insensitive (RFC 6750)', async (t) => {
  const app = await build(t)
  const { tokens } = await signUp(app)
  const res = await app.inject({ url: '/auth/verify', headers: { authorization: `bearer ${tokens.access_token}` } })
  t.equal(res.statusCode, 204)
})

t.test('no token: 401 missing_token with a bare Bearer challenge', async (t) => {
  const app = await build(t)
  for (const url of ROUTES) {
    for (const headers of [{}, { authorization: 'Basic YWxpY2U6cHc=' }, { authorization: 'Bearer ' }]) {
      const res = await app.inject({ url, headers })
      t.equal(res.statusCode, 401, `${url} ${JSON.stringify(headers)}`)
      t.same(res.json(), { error: 'missing_token', message: 'A bearer token is required' })
      t.equal(res.headers['www-authenticate'], 'Bearer realm="warden"')
    }
  }
})

t.test('tampered, forged, malformed and impossible tokens: 401 invalid_token', async (t) => {
  const app = await build(t)
  const { tokens } = await signUp(app)
  const cases = await forgedTokens(app, tokens.access_token, decodePart(tokens.access_token, 1).sub as string)
  for (const [name, token] of Object.entries(cases)) {
    for (const url of ROUTES) {
      const res = await app.inject({ url, headers: bearer(token) })
      t.equal(res.statusCode, 401, `${name} ${url}`)
      t.equal(res.json().error, 'invalid_token', `${name} ${url}`)
      t.match(res.headers['www-authenticate'], /^Bearer realm="warden", error="invalid_token", error_description="/, name)
    }
  }
})

t.test('a token signed by another key with the same kid is refused', async (t) => {
  const app = await build(t)
  const other = await build(t)
  const { tokens } = await signUp(other)
  const res = await app.inject({ url: '/auth/verify', headers: bearer(tokens.access_token) })
  t.equal(res.statusCode, 401)
  t.equal(res.json().error, 'invalid_token')
})

t.test('an expired token: 401 token_expired', async (t) => {
  const app = await build(t)
  const { user } = await signUp(app)
  const now = Math.floor(Date.now() / 1000)
  const expired = await forge(app, { sub: user.id, iat: now - 1000, exp: now - 100 })
  for (const url of ROUTES) {
    const res = await app.inject({ url, headers: bearer(expired) })
    t.equal(res.statusCode, 401, url)
    t.same(res.json(), { error: 'token_expired', message: 'The access token has expired' })
    t.match(res.headers['www-authenticate'], /error="invalid_token"/)
  }
})

t.test('a token accepted once still expires on time (the verification cache honours exp)', async (t) => {
  const app = await build(t)
  const { tokens } = await signUp(app)
  t.equal((await app.inject({ url: '/auth/verify', headers: bearer(tokens.access_token) })).statusCode, 204)
  const realNow = Date.now
  Date.now = () => realNow() + 16 * 60 * 1000 // the 15-minute token is now past its exp
  t.teardown(() => { Date.now = realNow })
  const res = await app.inject({ url: '/auth/verify', headers: bearer(tokens.access_token) })
  t.equal(res.statusCode, 401)
  t.equal(res.json().error, 'token_expired')
})

t.test('a revoked session and a locked account are refused from memory', async (t) => {
  const app = await build(t)
  const { user, tokens } = await signUp(app)
  const sid = decodePart(tokens.access_token, 1).sid as string

  await app.accountState.lock(user.id, { until: new Date(Date.now() + 60_000), reason: 'admin' })
  for (const url of ROUTES) {
    const res = await app.inject({ url, headers: bearer(tokens.access_token) })
    t.equal(res.statusCode, 403, url)
    t.equal(res.json().error, 'account_locked')
  }
  await app.accountState.unlock(user.id)
  t.equal((await app.inject({ url: '/users/me', headers: bearer(tokens.access_token) })).statusCode, 200)

  await app.accountState.revokeSession(sid)
  const res = await app.inject({ url: '/auth/verify', headers: bearer(tokens.access_token) })
  t.equal(res.statusCode, 401)
  t.equal(res.json().error, 'token_revoked')
})

t.test('a lock stored in the database bites after a restart', async (t) => {
  const env = { MONGODB_URI: testDatabaseUri() }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  const first = await build(t, env)
  const { user, tokens } = await signUp(first)
  await first.accountState.lock(user.id, { until: new Date(Date.now() + 60_000), reason: 'admin' })
  const second = await build(t, env)
  const res = await second.inject({ url: '/users/me', headers: bearer(tokens.access_token) })
  t.equal(res.statusCode, 403)
  t.equal(res.json().error, 'account_locked')
})

t.test('a token of a deleted account no longer opens /users/me', async (t) => {
  const app = await build(t)
  const { user } = await signUp(app)
  const token = await forge(app, { sub: '0123456789abcdef01234567' })
  const res = await app.inject({ url: '/users/me', headers: bearer(token) })
  t.equal(res.statusCode, 401)
  t.equal(res.json().error, 'invalid_token')
  const notAnId = await forge(app, { sub: 'not-an-object-id' })
  t.equal((await app.inject({ url: '/users/me', headers: bearer(notAnId) })).statusCode, 401)
  t.ok(user)
})

t.test('a deleted account\'s live tokens stop working at once, like after a logout-all', async (t) => {
  const app = await build(t)
  const { user, tokens } = await signUp(app)
  const second = await login(app)
  t.equal((await app.inject({ url: '/auth/verify', headers: bearer(tokens.access_token) })).statusCode, 204, 'cached as valid')
  await app.administration.remove(user.id, localOrigin('test'), { id: null })
  for (const token of [tokens.access_token, second.access_token]) {
    for (const url of ROUTES) {
      const res = await app.inject({ url, headers: bearer(token) })
      t.equal(res.statusCode, 401, url)
      t.equal(res.json().error, 'token_revoked', url)
    }
  }
  await t.rejects(app.administration.remove(user.id, localOrigin('test'), { id: null }), { code: 'WARDEN_NOT_FOUND' }, 'already gone')
})

t.test('a cached token does not vouch for a look-alike with the same signature', async (t) => {
  const app = await build(t)
  const { tokens } = await signUp(app)
  const [h, , s] = tokens.access_token.split('.')
  t.equal((await app.inject({ url: '/auth/verify', headers: bearer(tokens.access_token) })).statusCode, 204, 'the real token is now cached')
  const claims = decodePart(tokens.access_token, 1)
  const elevated = Buffer.from(JSON.stringify({ ...claims, roles: ['admin'] })).toString('base64url')
  const res = await app.inject({ url: '/auth/verify', headers: bearer(`${h}.${elevated}.${s}`) })
  t.equal(res.statusCode, 401)
  t.equal(res.json().error, 'invalid_token')
  t.equal((await app.inject({ url: '/auth/verify', headers: bearer(tokens.access_token) })).statusCode, 204, 'the real token still passes')
})
