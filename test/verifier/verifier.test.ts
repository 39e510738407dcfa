import t from 'tap'
import Fastify from 'fastify'
import { signUp, login, bearer, decodePart, eventually, forge } from '../helper'
import { listening, options, verifierOf, verdict, refusedWithin } from '../relying'
import { forgedTokens } from '../forged-tokens'
import { listen, rawRequest } from '../socket'
import { wardenVerifier } from '../../src/verifier'

t.test('a valid token verifies, and stops verifying on the next check after a logout-all', async (t) => {
  const w = await listening(t)
  const { user, tokens } = await signUp(w.app)
  const verifier = await verifierOf(t, w)
  const claims = await verifier.verify(tokens.access_token)
  t.match(claims, { sub: user.id, roles: ['user'], preferred_username: 'alice', sid: String, iss: w.app.config.jwt.issuer })
  t.same(verifier.check(tokens.access_token), claims, 'answered from memory the second time')

  const res = await w.app.inject({ method: 'POST', url: '/auth/logout-all', headers: bearer(tokens.access_token) })
  t.equal(res.statusCode, 204)
  const ms = await refusedWithin(verifier, tokens.access_token, 'token_revoked')
  t.ok(ms < 1000, `refused after ${ms} ms`)
  t.match(verifier.status(), { connected: true, lastEventId: String })
})

t.test('locks and unlocks reach the verifier; a later verifier starts from the snapshot', async (t) => {
  const w = await listening(t)
  const alice = await signUp(w.app, 'alice')
  const bob = await signUp(w.app, 'bob')
  const verifier = await verifierOf(t, w)
  t.equal(await verdict(verifier, alice.tokens.access_token), 'ok')

  await w.app.accountState.lock(alice.user.id, { until: new Date(Date.now() + 3_600_000), reason: 'admin' })
  await refusedWithin(verifier, alice.tokens.access_token, 'account_locked')
  await w.app.accountState.revokeSession(decodePart(bob.tokens.access_token, 1).sid as string)
  await refusedWithin(verifier, bob.tokens.access_token, 'token_revoked')

  const later = await verifierOf(t, w)
  t.equal(await verdict(later, alice.tokens.access_token), 'account_locked', 'the lock is in the snapshot')
  t.equal(await verdict(later, bob.tokens.access_token), 'token_revoked', 'the revoked session is in the snapshot')
  t.equal(later.status().entries, 2)

  await w.app.accountState.unlock(alice.user.id)
  await refusedWithin(verifier, alice.tokens.access_token, 'ok')
  await refusedWithin(later, alice.tokens.access_token, 'ok')
})

t.test('the verifier refuses what Warden\'s own hook refuses', async (t) => {
  const w = await listening(t)
  const { user, tokens } = await signUp(w.app)
  const verifier = await verifierOf(t, w)
  for (const [name, token] of Object.entries(await forgedTokens(w.app, tokens.access_token, user.id))) {
    t.equal(await verdict(verifier, token), 'invalid_token', name)
  }
  const now = Math.floor(Date.now() / 1000)
  t.equal(await verdict(verifier, await forge(w.app, { sub: user.id, iat: now - 1000, exp: now - 100 })), 'token_expired')
  t.equal(await verdict(verifier, ''), 'missing_token')
  t.equal(await verdict(verifier, tokens.access_token), 'ok', 'the real token still passes')
})

t.test('without a feed, the verifier checks signatures and claims only', async (t) => {
  const w = await listening(t)
  const { tokens } = await signUp(w.app)
  const verifier = await verifierOf(t, w, { feed: undefined })
  t.equal(await verdict(verifier, tokens.access_token), 'ok')
  await w.app.inject({ method: 'POST', url: '/auth/logout-all', headers: bearer(tokens.access_token) })
  t.equal(await verdict(verifier, tokens.access_token), 'ok', 'a JWKS-only check cannot know of the logout')
})

t.test('when the feed is gone: verify on by default, or refuse everything with onStale: fail', async (t) => {
  const w = await listening(t)
  const { tokens } = await signUp(w.app)
  const lenient = await verifierOf(t, w, { staleAfter: 0.2, maxBackoff: 0.2 })
  const strict = await verifierOf(t, w, { staleAfter: 0.2, maxBackoff: 0.2, onStale: 'fail' })
  t.equal(await verdict(strict, tokens.access_token), 'ok')
  await w.app.close()
  await eventually(async () => await verdict(strict, tokens.access_token) === 'unavailable', 5000, 'the strict verifier refusing')
  t.equal(await verdict(lenient, tokens.access_token), 'ok', 'the lenient one keeps verifying with what it knew')
  t.equal(lenient.status().connected, false)
})

t.test('the Fastify plugin answers as Warden does', async (t) => {
  const w = await listening(t)
  const { user, tokens } = await signUp(w.app)
  const other = await login(w.app)
  const relying = Fastify()
  t.teardown(() => relying.close())
  await relying.register(wardenVerifier, options(w))
  relying.get('/hello', { onRequest: relying.authenticate }, async (request) => ({ hello: request.warden?.sub }))
  await relying.ready()

  const ok = await relying.inject({ url: '/hello', headers: bearer(tokens.access_token) })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { hello: user.id })

  const none = await relying.inject({ url: '/hello' })
  t.equal(none.statusCode, 401)
  t.same(none.json(), { error: 'missing_token', message: 'A bearer token is required' })
  t.equal(none.headers['www-authenticate'], 'Bearer realm="warden"')

  const forged = await relying.inject({ url: '/hello', headers: bearer(tokens.access_token.slice(0, -4) + 'AAAA') })
  t.equal(forged.statusCode, 401)
  t.equal(forged.json().error, 'invalid_token')
  t.match(forged.headers['www-authenticate'], /^Bearer realm="warden", error="invalid_token"/)

  const port = await listen(relying)
  const twice = await rawRequest(port, `GET /hello HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${tokens.access_token}\r\nauthorization: Bearer ${other.access_token}\r\n\r\n`)
  t.equal(twice.status, 401, 'two Authorization headers')
  t.equal(JSON.parse(twice.body).error, 'invalid_token')

  await w.app.inject({ method: 'DELETE', url: `/users/me/sessions/${decodePart(tokens.access_token, 1).sid as string}`, headers: bearer(other.access_token) })
  await eventually(async () => (await relying.inject({ url: '/hello', headers: bearer(tokens.access_token) })).statusCode === 401, 1000, 'the ended session refused')
  const revoked = await relying.inject({ url: '/hello', headers: bearer(tokens.access_token) })
  t.same(revoked.json(), { error: 'token_revoked', message: 'The access token has been revoked' })

  await w.app.accountState.lock(user.id, { reason: 'admin' })
  await eventually(async () => (await relying.inject({ url: '/hello', headers: bearer(other.access_token) })).statusCode === 403, 1000, 'the locked account refused')
  t.equal((await relying.inject({ url: '/hello', headers: bearer(other.access_token) })).json().error, 'account_locked')
})
