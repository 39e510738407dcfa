import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, signUp, bearer, forge, decodePart, basic } from '../helper'

async function client (app: FastifyInstance, name = 'billing') {
  const created = await app.clients.create(name)
  return { ...created, headers: basic(created.client_id, created.client_secret) }
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

async function introspect (app: FastifyInstance, headers: Record<string, string>, token: string) {
  return await app.inject({ method: 'POST', url: '/oauth/introspect', headers: { ...FORM, ...headers }, payload: new URLSearchParams({ token }).toString() })
}

t.test('introspection: an accepted access token is active, with its claims', async (t) => {
  const app = await build(t, { JWT_ISSUER: 'https://auth.example.com' })
  const { user, tokens } = await signUp(app, 'Alice')
  const { client_id: id, headers } = await client(app)
  const claims = decodePart(tokens.access_token, 1)

  const res = await introspect(app, headers, tokens.access_token)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  t.same(res.json(), {
    active: true,
    sub: user.id,
    exp: claims.exp,
    iat: claims.iat,
    roles: ['user'],
    username: 'Alice',
    token_type: 'Bearer',
    sid: claims.sid,
    jti: claims.jti,
    iss: 'https://auth.example.com',
    aud: 'warden'
  })

  const json = await app.inject({ method: 'POST', url: '/oauth/introspect', headers, payload: { token: tokens.access_token, token_type_hint: 'access_token' } })
  t.equal(json.json().active, true, 'a JSON body works too')

  // every character percent-encoded before the Basic encoding, as RFC 6749 2.3.1 allows
  const encoded = (s: string) => [...s].map((c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join('')
  const strict = await client(app, 'strict encoder')
  const authorization = `Basic ${Buffer.from(`${encoded(strict.client_id)}:${encoded(strict.client_secret)}`).toString('base64')}`
  t.equal((await introspect(app, { authorization }, tokens.access_token)).json().active, true)
  t.ok(id)
})

t.test('introspection: expired, revoked, locked-user, forged and unknown tokens are {active:false} and nothing more', async (t) => {
  const app = await build(t)
  const { user, tokens } = await signUp(app)
  const { headers } = await client(app)
  const now = Math.floor(Date.now() / 1000)
  const inactive = async (token: string, what: string) => {
    const res = await introspect(app, headers, token)
    t.equal(res.statusCode, 200, what)
    t.same(res.json(), { active: false }, what)
  }

  await inactive(await forge(app, { sub: user.id, iat: now - 1000, exp: now - 100 }), 'expired')
  await inactive(await forge(app, { iss: 'https://evil.example' }), 'wrong issuer')
  await inactive(await forge(app, {}, { kid: 'someone-elses-key' }), 'unknown key')
  await inactive(tokens.access_token.slice(0, -4) + 'AAAA', 'bad signature')
  await inactive('not a token', 'garbage')
  await inactive(tokens.refresh_token, 'a refresh token (only access tokens are introspected)')

  await app.accountState.lock(user.id, { reason: 'admin' })
  await inactive(tokens.access_token, 'locked user')
  await app.accountState.unlock(user.id)
  t.equal((await introspect(app, headers, tokens.access_token)).json().active, true, 'active again once unlocked')

  await app.accountState.revokeSession(decodePart(tokens.access_token, 1).sid as string)
  await inactive(tokens.access_token, 'revoked session')
})

t.test('introspection needs a valid service client: 401 invalid_client with a Basic challenge', async (t) => {
  const app = await build(t)
  const { tokens } = await signUp(app)
  const good = await client(app)
  const other = await client(app, 'other')
  const cases: Record<string, Record<string, string>> = {
    'no credentials': {},
    'wrong secret': basic(good.client_id, good.client_secret.slice(0, -1) + (good.client_secret.endsWith('A') ? 'B' : 'A')),
    'another client\'s secret': basic(good.client_id, other.client_secret),
    'unknown client': basic('no-such-client', good.client_secret),
    'a bearer token instead': bearer(tokens.access_token),
    'malformed Basic': { authorization: 'Basic %%%' }
  }
  for (const [what, headers] of Object.entries(cases)) {
    const res = await introspect(app, headers, tokens.access_token)
    t.equal(res.statusCode, 401, what)
    t.same(res.json(), { error: 'invalid_client', message: 'Client authentication failed' }, what)
    t.equal(res.headers['www-authenticate'], 'Basic realm="warden"', what)
  }

  t.ok(await app.clients.remove(other.client_id))
  t.equal((await introspect(app, other.headers, tokens.access_token)).statusCode, 401, 'a deleted client is refused')

  const missing = await app.inject({ method: 'POST', url: '/oauth/introspect', headers: good.headers, payload: {} })
  t.equal(missing.statusCode, 400)
  t.equal(missing.json().error, 'validation_error')
})

t.test('service client secrets: 256 bits, stored hashed, names unique', async (t) => {
  const app = await build(t)
  const created = await app.clients.create('billing')
  t.ok(Buffer.from(created.client_secret, 'base64url').length >= 32)
  t.match(created.client_id, /^[0-9a-f]{32}$/, 'an id a command line never mistakes for an option')
  const stored = await app.serviceClients.findById(created.client_id)
  t.not(stored?.secretHash, created.client_secret)
  t.notMatch(JSON.stringify(stored), created.client_secret)
  await t.rejects(app.clients.create(' billing '), { code: 'WARDEN_CLIENT_NAME_TAKEN' })
  await t.rejects(app.clients.create('bad\u0000name'), { code: 'WARDEN_VALIDATION_ERROR' })
  t.match(await app.clients.list(), [{ client_id: created.client_id, name: 'billing', created_at: String }])
})

t.test('revocation: a refresh token ends its session everywhere; the holder needs no client credentials', async (t) => {
  const app = await build(t)
  const { user, tokens } = await signUp(app)
  const res = await app.inject({ method: 'POST', url: '/oauth/revoke', headers: FORM, payload: `token=${tokens.refresh_token}&token_type_hint=refresh_token` })
  t.equal(res.statusCode, 200)
  t.equal(res.body, '')
  const verify = await app.inject({ url: '/auth/verify', headers: bearer(tokens.access_token) })
  t.equal(verify.json().error, 'token_revoked', 'the session\'s access token stops working at once')
  const sid = decodePart(tokens.access_token, 1).sid as string
  t.ok((await app.sessions.findById(sid))?.revokedAt, 'the session is revoked in the database')
  t.match(await app.loginEvents.find({ type: 'logout' }), [{ outcome: 'success', user_id: user.id, username: 'alice', session_id: sid }])

  const again = await app.inject({ method: 'POST', url: '/oauth/revoke', payload: { token: tokens.refresh_token } })
  t.equal(again.statusCode, 200, 'revoking twice is fine')
  t.equal((await app.loginEvents.find({ type: 'logout' })).length, 1, 'and records nothing more')
})

t.test('revocation: an access token ends its session; a service client may revoke with its credentials', async (t) => {
  const app = await build(t)
  const { tokens } = await signUp(app)
  const { headers } = await client(app)
  // the wrong hint is only a hint
  const res = await app.inject({ method: 'POST', url: '/oauth/revoke', headers, payload: { token: tokens.access_token, token_type_hint: 'refresh_token' } })
  t.equal(res.statusCode, 200)
  t.equal((await app.inject({ url: '/auth/verify', headers: bearer(tokens.access_token) })).json().error, 'token_revoked')
  t.same((await introspect(app, headers, tokens.access_token)).json(), { active: false })
  t.equal((await app.loginEvents.find({ type: 'logout' })).length, 1)
})

t.test('revocation: unknown tokens get 200; bad client credentials get 401', async (t) => {
  const app = await build(t)
  const { tokens } = await signUp(app)
  const { client_id: id } = await client(app)
  for (const token of ['x'.repeat(43), 'not-a-token', await forge(app, {}, { kid: 'unknown' })]) {
    const res = await app.inject({ method: 'POST', url: '/oauth/revoke', payload: { token } })
    t.equal(res.statusCode, 200)
  }
  const bad = await app.inject({ method: 'POST', url: '/oauth/revoke', headers: basic(id, 'wrong'), payload: { token: tokens.refresh_token } })
  t.equal(bad.statusCode, 401)
  t.equal(bad.headers['www-authenticate'], 'Basic realm="warden"')
  t.equal((await app.inject({ url: '/auth/verify', headers: bearer(tokens.access_token) })).statusCode, 204, 'nothing was revoked')
  t.equal((await app.loginEvents.find({ type: 'logout' })).length, 0)
})

t.test('RFC 8414 metadata: absolute URLs under JWT_ISSUER', async (t) => {
  const app = await build(t, { JWT_ISSUER: 'https://auth.example.com/', JWT_ALG: 'ES256' })
  const res = await app.inject({ url: '/.well-known/oauth-authorization-server' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['cache-control'], /max-age/)
  t.match(res.json(), {
    issuer: 'https://auth.example.com/',
    jwks_uri: 'https://auth.example.com/.well-known/jwks.json',
    token_endpoint: 'https://auth.example.com/auth/refresh',
    introspection_endpoint: 'https://auth.example.com/oauth/introspect',
    revocation_endpoint: 'https://auth.example.com/oauth/revoke',
    grant_types_supported: ['refresh_token'],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'none'],
    access_token_signing_alg_values_supported: ['ES256']
  })
  const doc = (await app.inject({ url: '/docs/json' })).json<{ paths: Record<string, unknown> }>()
  for (const path of ['/oauth/introspect', '/oauth/revoke', '/.well-known/oauth-authorization-server']) t.ok(doc.paths[path], `${path} in the OpenAPI document`)
})
