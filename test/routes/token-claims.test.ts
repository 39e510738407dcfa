import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, signUp, bearer, forge } from '../helper'
import { signRaw } from '../forged-tokens'
import { loadConfig } from '../../src/config'

const YEAR = 365 * 86400
const now = (): number => Math.floor(Date.now() / 1000)

async function refused (t: Test, app: FastifyInstance, token: string, name: string): Promise<void> {
  for (const url of ['/auth/verify', '/users/me']) {
    const res = await app.inject({ url, headers: bearer(token) })
    t.equal(res.statusCode, 401, `${name} ${url}`)
    t.equal(res.json().error, 'invalid_token', `${name} ${url}`)
  }
}

t.test('signed tokens with impossible times are refused: 401 invalid_token', async (t) => {
  const app = await build(t)
  const { user } = await signUp(app)
  const sub = user.id
  const cases: Record<string, Record<string, unknown>> = {
    'iat an hour ahead': { sub, iat: now() + 3600, exp: now() + 3600 + 900 },
    'iat and exp ten years ahead': { sub, iat: now() + 10 * YEAR, exp: now() + 10 * YEAR + 900 },
    'a ten-year lifetime': { sub, iat: now(), exp: now() + 10 * YEAR },
    'a lifetime just over ACCESS_TOKEN_TTL and the tolerance': { sub, iat: now() - 100, exp: now() - 100 + 900 + 31 },
    'nbf an hour ahead': { sub, nbf: now() + 3600 }
  }
  for (const [name, claims] of Object.entries(cases)) await refused(t, app, await forge(app, claims), name)
})

t.test('unknown critical header parameters are refused (RFC 7515, RFC 8725)', async (t) => {
  const app = await build(t)
  const { user } = await signUp(app)
  const payload = { iss: app.config.jwt.issuer, aud: 'warden', sub: user.id, iat: now(), exp: now() + 60, jti: 'j', sid: 's', roles: ['user'], preferred_username: 'alice' }
  t.equal((await app.inject({ url: '/auth/verify', headers: bearer(await signRaw(app, {}, payload)) })).statusCode, 204, 'the raw signer makes valid tokens')
  await refused(t, app, await signRaw(app, { crit: ['urn:example:must-understand'], 'urn:example:must-understand': true }, payload), 'unknown crit')
  await refused(t, app, await signRaw(app, { crit: [] }, payload), 'empty crit')
  await refused(t, app, await signRaw(app, { crit: ['exp'], exp: 1 }, payload), 'crit naming a registered parameter')
})

t.test('small clock differences are tolerated (CLOCK_TOLERANCE, 30 s by default)', async (t) => {
  const app = await build(t)
  const { user } = await signUp(app)
  const skewed = await forge(app, { sub: user.id, iat: now() + 20, exp: now() + 20 + 900 })
  t.equal((await app.inject({ url: '/auth/verify', headers: bearer(skewed) })).statusCode, 204, 'iat 20 s ahead')
  const strict = await build(t, { CLOCK_TOLERANCE: '0' })
  const other = await signUp(strict, 'bob')
  await refused(t, strict, await forge(strict, { sub: other.user.id, iat: now() + 20, exp: now() + 20 + 900 }), 'iat 20 s ahead with no tolerance')
})

t.test('CLOCK_TOLERANCE is a duration', async (t) => {
  t.equal(loadConfig({}).jwt.clockTolerance, 30)
  t.equal(loadConfig({ CLOCK_TOLERANCE: '2m' }).jwt.clockTolerance, 120)
  t.equal(loadConfig({ CLOCK_TOLERANCE: '0' }).jwt.clockTolerance, 0)
  t.throws(() => loadConfig({ CLOCK_TOLERANCE: 'soon' }), /^CLOCK_TOLERANCE /)
})
