import t from 'tap'
import { createLocalJWKSet, jwtVerify } from 'jose'
import tokens from '../../plugins/tokens'
import signingKeys from '../../plugins/stores/signing-keys'
import stateChanges from '../../plugins/stores/state-changes'
import propagation from '../../plugins/propagation'
import keys from '../../plugins/keys'
import { bare, type Teardown } from '../helper'

const subject = { id: '0123456789abcdef01234567', username: 'Ада', roles: ['user'] }

async function tokensApp (t: Teardown, env: Record<string, string> = {}) {
  const app = await bare(t, env, true)
  await app.register(propagation)
  await app.register(signingKeys)
  await app.register(stateChanges)
  await app.register(keys)
  await app.register(tokens)
  await app.ready()
  return app
}

t.test('issues a token that a stock verifier accepts from the JWKS alone', async (t) => {
  for (const alg of ['RS256', 'ES256', 'EdDSA']) {
    const app = await tokensApp(t, { JWT_ALG: alg })
    const { token, expiresIn } = app.tokens.issueAccessToken(subject, 'session-1')
    t.equal(expiresIn, 900)
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(app.tokens.jwks), {
      issuer: 'http://localhost:3000', audience: 'warden', typ: 'at+jwt', algorithms: [alg]
    })
    t.match(payload, { sub: subject.id, sid: 'session-1', roles: ['user'], preferred_username: 'Ада' }, alg)
    t.equal(protectedHeader.kid, app.tokens.kid)
  }
})

t.test('verifies its own tokens into an auth context and refuses tampering', async (t) => {
  const app = await tokensApp(t)
  const { token, tokenId } = app.tokens.issueAccessToken(subject, 'session-1')
  const context = app.tokens.verifyAccessToken(token)
  t.match(context, { userId: subject.id, username: 'Ада', roles: ['user'], sessionId: 'session-1', tokenId, rolesHeader: 'user' })
  t.equal(app.tokens.verifyAccessToken(token), context, 'a second check is answered from the cache')
  const [h, p, s] = token.split('.')
  t.throws(() => app.tokens.verifyAccessToken(`${h}.${p}.${s.slice(0, -6)}AAAAAA`), { code: 'WARDEN_INVALID_TOKEN' })
  t.throws(() => app.tokens.verifyAccessToken('x'.repeat(9000)), { code: 'WARDEN_INVALID_TOKEN' })
})

t.test('HS256 publishes no key and @fastify/jwt stays private to the plugin', async (t) => {
  const app = await tokensApp(t, { JWT_ALG: 'HS256', JWT_SECRET: 'a-secret-of-at-least-thirty-two-bytes!!' })
  t.same(app.tokens.jwks, { keys: [] })
  const { token } = app.tokens.issueAccessToken(subject, 's')
  t.equal(app.tokens.verifyAccessToken(token).userId, subject.id)
  t.notOk(app.hasDecorator('jwt'), 'no jwt decorator leaks to the application')
})
