import t from 'tap'
import { createRemoteJWKSet, importPKCS8, jwtVerify, SignJWT, type JSONWebKeySet } from 'jose'
import type { FastifyInstance } from 'fastify'
import mongoose from 'mongoose'
import { build, signUp, login, bearer, forge, decodePart, eventually, type Teardown } from '../helper'
import { testDatabaseUri, dropTestDatabase } from '../db'
import { startRedis } from '../servers'
import { RETIREMENT_MARGIN_MS } from '../../src/lib/key-lifecycle'
import { loadConfig } from '../../src/config'

const ISSUER = 'http://localhost:3000'

/** Moves Date.now (which token checks, the key ring and fast-jwt all read) by `ms` from now on, until the test ends. */
function clock (t: Teardown): { advance(ms: number): void } {
  const realNow = Date.now
  let offset = 0
  Date.now = () => realNow() + offset
  t.teardown(() => { Date.now = realNow })
  return { advance (ms: number) { offset += ms } }
}

async function until (check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setImmediate(resolve))
  }
}

const kidOf = (token: string) => decodePart(token, 0).kid as string
const verifyStatus = async (app: FastifyInstance, token: string) => (await app.inject({ url: '/auth/verify', headers: bearer(token) })).statusCode
const jwks = async (app: FastifyInstance) => (await app.inject({ url: '/.well-known/jwks.json' })).json<JSONWebKeySet>()

for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
  t.test(`${alg}: jose verifies Warden's tokens over HTTP from the JWKS, before and after a key rotation`, async (t) => {
    const app = await build(t, { JWT_ALG: alg })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as { port: number }
    const { user, tokens: before } = await signUp(app)
    // a relying service: jose fetches the set, and fetches it again for a key it does not know
    const remote = createRemoteJWKSet(new URL(`http://127.0.0.1:${port}/.well-known/jwks.json`), { cooldownDuration: 0 })
    const options = { issuer: ISSUER, audience: 'warden', typ: 'at+jwt', algorithms: [alg] }

    const first = await jwtVerify(before.access_token, remote, options)
    t.equal(first.payload.sub, user.id)
    t.equal(first.protectedHeader.kid, app.tokens.kid)

    const oldKid = app.tokens.kid
    const rotation = await app.keys.rotate()
    t.not(rotation.kid, oldKid)
    t.equal(rotation.previous_kid, oldKid)
    t.equal(app.tokens.kid, rotation.kid, 'the new key signs at once')

    const after = await login(app)
    t.equal(kidOf(after.access_token), rotation.kid)
    t.equal((await jwtVerify(after.access_token, remote, options)).payload.sub, user.id, 'a token of the new key')
    t.equal((await jwtVerify(before.access_token, remote, options)).payload.sub, user.id, 'a token of the old key still verifies')
    t.same((await jwks(app)).keys.map((k) => k.kid), [rotation.kid, oldKid])
    t.equal(await verifyStatus(app, before.access_token), 204)
    t.equal(await verifyStatus(app, after.access_token), 204)
  })
}

t.test('a token signed before a rotation works until it expires; its key then leaves the JWKS and verifies nothing', async (t) => {
  const app = await build(t)
  const { tokens } = await signUp(app)
  const oldKid = app.tokens.kid
  const oldKey = await app.signingKeys.get(oldKid)
  const privateKey = await importPKCS8(oldKey?.privatePem as string, 'RS256')
  const tokenOf = async (exp: number) => new SignJWT({ sub: 'someone', sid: 's', jti: 'j', roles: ['user'], preferred_username: 'someone' })
    .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: oldKid })
    .setIssuer(ISSUER).setAudience('warden').setIssuedAt(Math.floor(Date.now() / 1000)).setExpirationTime(exp).sign(privateKey)

  const time = clock(t)
  const rotation = await app.keys.rotate()
  const retireAt = Date.parse(rotation.previous_retire_at as string)
  t.ok(Math.abs(retireAt - (Date.now() + 15 * 60_000 + RETIREMENT_MARGIN_MS)) < 5_000, 'ACCESS_TOKEN_TTL and the margin after the rotation')
  const etagBefore = (await app.inject({ url: '/.well-known/jwks.json' })).headers.etag

  time.advance(14 * 60_000)
  t.equal(await verifyStatus(app, tokens.access_token), 204, '14 minutes on, the old token still works')
  t.same((await jwks(app)).keys.map((k) => k.kid), [rotation.kid, oldKid])

  time.advance(2 * 60_000)
  const expired = await app.inject({ url: '/auth/verify', headers: bearer(tokens.access_token) })
  t.equal(expired.json().error, 'token_expired', 'then it expires like any token')
  t.ok((await jwks(app)).keys.some((k) => k.kid === oldKid), 'the old key stays for the margin')
  const lateSigned = await tokenOf(Math.floor(Date.now() / 1000) + 600)
  t.equal(await verifyStatus(app, lateSigned), 204, 'until it retires, the old key still verifies')

  time.advance(RETIREMENT_MARGIN_MS)
  const after = await app.inject({ url: '/.well-known/jwks.json' })
  t.same(after.json<JSONWebKeySet>().keys.map((k) => k.kid), [rotation.kid], 'retired: gone from the JWKS')
  t.not(after.headers.etag, etagBefore, 'with a new ETag')
  const stolen = await tokenOf(Math.floor(Date.now() / 1000) + 600)
  const refused = await app.inject({ url: '/auth/verify', headers: bearer(stolen) })
  t.equal(refused.statusCode, 401, 'a retired key verifies nothing, even an unexpired token')
  t.equal(refused.json().error, 'invalid_token')

  await until(async () => (await app.signingKeys.list('RS256')).find((k) => k.kid === oldKid)?.state === 'retired', 'the retirement to be recorded')
  const stored = await app.signingKeys.get(oldKid)
  t.equal(stored?.privatePem, null, 'its private part is erased')
  t.match(await app.keys.list(), [{ kid: rotation.kid, state: 'active' }, { kid: oldKid, state: 'retired' }])
})

t.test('every instance on the database picks up a rotation: at once when told, at start, or on meeting the new kid', async (t) => {
  const env = { MONGODB_URI: testDatabaseUri() }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  // b hears of a's changes the way a transport delivers them; c hears nothing (its poll of the
  // state-change feed is an hour away), so it learns of the new key only by meeting it
  const [a, b, c] = await Promise.all([build(t, env), build(t, env), build(t, { ...env, PROPAGATION_POLL_INTERVAL: '1h' })])
  a.propagation.onPublish((change) => { b.propagation.receive(change) })
  let cReads = 0
  const list = c.signingKeys.list
  c.signingKeys.list = async (alg) => { cReads++; return await list(alg) }

  const { tokens: before } = await signUp(a)
  const rotation = await a.keys.rotate()
  await until(() => b.tokens.kid === rotation.kid, 'b to switch keys')
  const fromB = await login(b)
  t.equal(kidOf(fromB.access_token), rotation.kid, 'b signs with the new key')
  t.ok((await jwks(b)).keys.some((k) => k.kid === rotation.kid))
  t.equal(await verifyStatus(b, before.access_token), 204, 'and still accepts the old key\'s tokens')

  const later = await build(t, env)
  t.equal(later.tokens.kid, rotation.kid, 'an instance started after the rotation signs with the new key')
  t.equal(await verifyStatus(later, before.access_token), 204)

  // c meets a token naming a key it has not loaded: it reloads once, in the background
  const first = await c.inject({ url: '/auth/verify', headers: bearer(fromB.access_token) })
  t.equal(first.statusCode, 401, 'not yet known: refused, not waited for')
  await until(async () => await verifyStatus(c, fromB.access_token) === 204, 'c to reload its keys')
  t.equal(c.tokens.kid, rotation.kid)
  const readsAfterReload = cReads
  t.ok(readsAfterReload <= 2, `one reload (${readsAfterReload} reads)`)

  const unknown = await Promise.all(Array.from({ length: 50 }, (_, i) => forge(c, {}, { kid: `no-such-key-${i}` })))
  for (const token of unknown) t.equal(await verifyStatus(c, token), 401)
  t.ok(cReads - readsAfterReload <= 1, `50 unknown kids cost at most one read of the keys (${cReads - readsAfterReload})`)
})

for (const transport of ['the state-change poll', 'Redis'] as const) {
  t.test(`a running instance picks up another's rotation through ${transport}: it signs with the new key, both accept both keys`, async (t) => {
    const env: Record<string, string> = { MONGODB_URI: testDatabaseUri(), PROPAGATION_POLL_INTERVAL: '1' }
    t.teardown(() => dropTestDatabase(env.MONGODB_URI))
    // with Redis, the poll is set far beyond the test: only Redis can deliver in time
    if (transport === 'Redis') Object.assign(env, { REDIS_URL: (await startRedis(t)).url, PROPAGATION_POLL_INTERVAL: '600' })
    const [a, b] = await Promise.all([build(t, env), build(t, env)])
    t.equal(b.tokens.kid, a.tokens.kid, 'one signing key to start with')
    const { tokens: before } = await signUp(a)

    const rotation = await a.keys.rotate()
    t.equal(a.tokens.kid, rotation.kid, 'the rotating instance signs with the new key at once')
    // the bounds of README "Running several instances": one poll interval plus one poll (1.25 s), or 100 ms through Redis
    const ms = await eventually(async () => b.tokens.kid === rotation.kid, transport === 'Redis' ? 100 : 1250, 'b to sign with the new key')
    t.comment(`b switched keys ${ms} ms after the rotation`)
    const fromA = await login(a)
    const fromB = await login(b)
    t.equal(kidOf(fromB.access_token), rotation.kid, 'b signs with the new key')
    t.equal(kidOf(before.access_token), rotation.previous_kid)
    for (const [name, app] of [['a', a], ['b', b]] as const) {
      t.equal(await verifyStatus(app, before.access_token), 204, `${name} accepts a token of the old key`)
      t.equal(await verifyStatus(app, fromA.access_token), 204, `${name} accepts a's token of the new key`)
      t.equal(await verifyStatus(app, fromB.access_token), 204, `${name} accepts b's token of the new key`)
      t.same((await jwks(app)).keys.map((k) => k.kid), [rotation.kid, rotation.previous_kid], `${name} publishes both keys`)
    }
  })
}

t.test('KEY_ROTATION_INTERVAL: when due, exactly one of several instances rotates', async (t) => {
  const env = { MONGODB_URI: testDatabaseUri(), KEY_ROTATION_INTERVAL: '30d' }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  const [a, b] = await Promise.all([build(t, env), build(t, env)])
  const oldKid = a.tokens.kid
  t.same(await Promise.all([a.keys.rotateIfDue(), b.keys.rotateIfDue()]), [null, null], 'not due yet')

  const time = clock(t)
  time.advance(30 * 86_400_000 + 1000)
  const results = await Promise.all([a.keys.rotateIfDue(), b.keys.rotateIfDue()])
  const winners = results.filter((r) => r !== null)
  t.equal(winners.length, 1, 'one rotation')
  const keys = await a.keys.list()
  // (the instances' own rotation timers may also have fired once the clock moved: the newest key is active either way)
  t.equal(keys[0].state, 'active')
  t.ok(keys.some((k) => k.kid === oldKid && k.state === 'retiring' && k.generation === 1), 'the old key is retiring')
  t.equal(a.tokens.kid, keys[0].kid)
  t.equal(b.tokens.kid, keys[0].kid, 'the instance that lost the race uses the winner\'s key')
})

t.test('KEY_ROTATION_INTERVAL rotates on its own timer', async (t) => {
  const app = await build(t, { ACCESS_TOKEN_TTL: '1', KEY_ROTATION_INTERVAL: '1' })
  const first = app.tokens.kid
  await until(() => app.tokens.kid !== first, 'an automatic rotation', 15_000)
  t.match(await app.keys.list(), [{ state: 'active' }, { kid: first }])
})

t.test('KEY_ROTATION_INTERVAL is refused when shorter than ACCESS_TOKEN_TTL or with HS256', async (t) => {
  t.throws(() => loadConfig({ KEY_ROTATION_INTERVAL: '5m' }), /^KEY_ROTATION_INTERVAL must not be shorter than ACCESS_TOKEN_TTL/)
  t.throws(() => loadConfig({ KEY_ROTATION_INTERVAL: 'weekly' }), /^KEY_ROTATION_INTERVAL must be a duration/)
  t.throws(() => loadConfig({ JWT_ALG: 'HS256', JWT_SECRET: 'x'.repeat(32), KEY_ROTATION_INTERVAL: '30d' }), /^KEY_ROTATION_INTERVAL does not apply to JWT_ALG=HS256/)
  t.throws(() => loadConfig({ KEY_ENCRYPTION_SECRET: 'short' }), /^KEY_ENCRYPTION_SECRET must be at least 32 bytes/)
})

t.test('HS256: rotation does not apply', async (t) => {
  const app = await build(t, { JWT_ALG: 'HS256', JWT_SECRET: 'a-test-secret-that-is-at-least-32-bytes-long' })
  await t.rejects(app.keys.rotate(), { code: 'WARDEN_KEY_ROTATION_UNSUPPORTED', message: /HS256/ })
  t.same(await app.keys.list(), [])
})

t.test('the JWKS carries Cache-Control and an ETag, and answers 304 to a matching If-None-Match', async (t) => {
  const app = await build(t)
  const first = await app.inject({ url: '/.well-known/jwks.json' })
  const etag = first.headers.etag as string
  t.match(etag, /^"[A-Za-z0-9_-]+"$/)
  t.match(first.headers['cache-control'], /^public, max-age=\d+$/)

  for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
    const res = await app.inject({ url: '/.well-known/jwks.json', headers: { 'if-none-match': ifNoneMatch } })
    t.equal(res.statusCode, 304, ifNoneMatch)
    t.equal(res.body, '')
    t.equal(res.headers.etag, etag)
  }
  t.equal((await app.inject({ url: '/.well-known/jwks.json', headers: { 'if-none-match': '"stale"' } })).statusCode, 200)

  await app.keys.rotate()
  const changed = await app.inject({ url: '/.well-known/jwks.json', headers: { 'if-none-match': etag } })
  t.equal(changed.statusCode, 200, 'a rotation changes the set and its ETag')
  t.not(changed.headers.etag, etag)
  t.equal(changed.json<JSONWebKeySet>().keys.length, 2)
})

t.test('private keys are encrypted at rest with KEY_ENCRYPTION_SECRET', async (t) => {
  const env = { MONGODB_URI: testDatabaseUri() }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  const secret = 'correct key encryption secret, 32+ bytes'
  const conn = await mongoose.createConnection(env.MONGODB_URI).asPromise()
  t.teardown(() => conn.close())
  const docs = async () => await conn.collection('signing_keys').find({}).sort({ generation: 1 }).toArray()

  // a key stored before the secret was set
  const plain = await build(t, env)
  const { tokens } = await signUp(plain)
  t.match((await docs())[0], { private_pem: /BEGIN PRIVATE KEY/ }, 'without the secret: PEM, as documented')
  await plain.close()

  const sealed = await build(t, { ...env, KEY_ENCRYPTION_SECRET: secret })
  t.equal(sealed.tokens.kid, kidOf(tokens.access_token), 'the same key, now encrypted')
  await sealed.keys.rotate()
  for (const doc of await docs()) {
    t.notOk('private_pem' in doc, `${String(doc._id)}: no plaintext field`)
    t.match(doc.private_sealed, { v: 1, kdf: 'scrypt', salt: String, iv: String, tag: String, data: String })
    t.notMatch(JSON.stringify(doc), /PRIVATE KEY|MII/, 'nothing PEM-like stored')
    t.notMatch(Buffer.from(doc.private_sealed.data, 'base64').toString('latin1'), /PRIVATE KEY/)
  }
  t.equal(await verifyStatus(sealed, tokens.access_token), 204, 'tokens of the re-encrypted key still verify')
  t.equal(await verifyStatus(sealed, (await login(sealed)).access_token), 204, 'the new key signs')
  t.match(await sealed.keys.list(), [{ encrypted: true }, { encrypted: true }])
  await sealed.close()

  await t.rejects(build(t, { ...env, KEY_ENCRYPTION_SECRET: 'a different secret, also 32+ bytes long' }),
    { message: /^KEY_ENCRYPTION_SECRET does not decrypt signing key \S+ \(wrong secret\?\)$/ })
  await t.rejects(build(t, env), { message: /^signing key \S+ is encrypted: set KEY_ENCRYPTION_SECRET/ })
  const again = await build(t, { ...env, KEY_ENCRYPTION_SECRET: secret })
  t.equal(await verifyStatus(again, (await login(again)).access_token), 204, 'the right secret opens it again')
})
