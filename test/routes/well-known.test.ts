import t from 'tap'
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose'
import jsonwebtoken from 'jsonwebtoken'
import { createPublicKey, type JsonWebKey } from 'node:crypto'
import { build, signUp, bearer } from '../helper'
import { testDatabaseUri, dropTestDatabase } from '../db'

t.test('the JWKS verifies Warden tokens with standard libraries', async (t) => {
  const app = await build(t)
  const { user, tokens } = await signUp(app)
  const res = await app.inject({ url: '/.well-known/jwks.json' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['cache-control'], /max-age=/)
  const jwks = res.json<JSONWebKeySet>()
  t.equal(jwks.keys.length, 1)
  t.match(jwks.keys[0], { kty: 'RSA', kid: app.tokens.kid, alg: 'RS256', use: 'sig', n: String, e: 'AQAB' })
  t.notOk('d' in jwks.keys[0], 'no private member')

  const { payload, protectedHeader } = await jwtVerify(tokens.access_token, createLocalJWKSet(jwks), {
    issuer: 'http://localhost:3000', audience: 'warden', algorithms: ['RS256'], typ: 'at+jwt'
  })
  t.equal(payload.sub, user.id)
  t.equal(protectedHeader.kid, app.tokens.kid)

  const pem = createPublicKey({ key: jwks.keys[0] as JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' })
  const claims = jsonwebtoken.verify(tokens.access_token, pem, { algorithms: ['RS256'], issuer: 'http://localhost:3000', audience: 'warden' })
  t.match(claims, { sub: user.id })

  const modulus = Buffer.from(jwks.keys[0].n as string, 'base64url')
  t.equal(modulus.length * 8, 2048, 'RSA 2048')
})

for (const alg of ['ES256', 'EdDSA'] as const) {
  t.test(`JWT_ALG=${alg} signs with a ${alg} key published in the JWKS`, async (t) => {
    const app = await build(t, { JWT_ALG: alg })
    const { tokens } = await signUp(app)
    const jwks = (await app.inject({ url: '/.well-known/jwks.json' })).json<JSONWebKeySet>()
    t.match(jwks.keys[0], { alg, kty: alg === 'ES256' ? 'EC' : 'OKP' })
    const { protectedHeader } = await jwtVerify(tokens.access_token, createLocalJWKSet(jwks), { issuer: 'http://localhost:3000', audience: 'warden', typ: 'at+jwt' })
    t.equal(protectedHeader.alg, alg)
    t.equal((await app.inject({ url: '/auth/verify', headers: bearer(tokens.access_token) })).statusCode, 204)
  })
}

t.test('JWT_ALG=HS256 signs with JWT_SECRET and publishes no key', async (t) => {
  const secret = 'a-test-secret-that-is-at-least-32-bytes-long'
  const app = await build(t, { JWT_ALG: 'HS256', JWT_SECRET: secret })
  const { tokens } = await signUp(app)
  t.same((await app.inject({ url: '/.well-known/jwks.json' })).json(), { keys: [] })
  const { protectedHeader } = await jwtVerify(tokens.access_token, new TextEncoder().encode(secret), { issuer: 'http://localhost:3000', audience: 'warden' })
  t.equal(protectedHeader.alg, 'HS256')
  t.notMatch(protectedHeader.kid, secret)
  t.equal((await app.inject({ url: '/auth/verify', headers: bearer(tokens.access_token) })).statusCode, 204)
})

t.test('the signing key survives a restart: old tokens stay valid', async (t) => {
  const env = { MONGODB_URI: testDatabaseUri() }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  const first = await build(t, env)
  const { tokens } = await signUp(first)
  await first.close()
  const second = await build(t, env)
  t.equal(second.tokens.kid, first.tokens.kid)
  t.equal((await second.inject({ url: '/auth/verify', headers: bearer(tokens.access_token) })).statusCode, 204)
})

t.test('instances starting together on an empty database agree on one key', async (t) => {
  const env = { MONGODB_URI: testDatabaseUri() }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  const apps = await Promise.all([build(t, env), build(t, env), build(t, env)])
  t.same(new Set(apps.map((a) => a.tokens.kid)).size, 1)
  t.equal((await apps[0].signingKeys.list(apps[0].config.jwt.algorithm)).length, 1)
})

t.test('a comma list in JWT_AUDIENCE puts every audience in the token', async (t) => {
  const app = await build(t, { JWT_AUDIENCE: 'warden, billing', JWT_ISSUER: 'https://auth.example.com' })
  const { tokens } = await signUp(app)
  const jwks = (await app.inject({ url: '/.well-known/jwks.json' })).json<JSONWebKeySet>()
  const { payload } = await jwtVerify(tokens.access_token, createLocalJWKSet(jwks), { issuer: 'https://auth.example.com', audience: 'billing' })
  t.same(payload.aud, ['warden', 'billing'])
})
