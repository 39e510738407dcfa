import t from 'tap'
import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { build, signUp, login, bearer, decodePart, manualClock, type Tokens } from '../helper'
import { as, buildWithAdmin } from '../admin'

const MINUTE = 60_000
const HOUR = 60 * MINUTE

function refresh (app: FastifyInstance, refreshToken: string) {
  return app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: refreshToken } })
}

async function verify (app: FastifyInstance, accessToken: string) {
  return app.inject({ url: '/auth/verify', headers: bearer(accessToken) })
}

const INVALID_GRANT = { error: 'invalid_grant', message: 'The refresh token is invalid, expired or revoked' }

t.test('a refresh spends the token and returns a new pair of the same session', async (t) => {
  const app = await build(t)
  const { user, tokens } = await signUp(app)
  const res = await refresh(app, tokens.refresh_token)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  const next = res.json<Tokens>()
  t.match(next, { access_token: String, token_type: 'Bearer', expires_in: 900, refresh_token: /^[A-Za-z0-9_-]{43}$/ })
  t.not(next.refresh_token, tokens.refresh_token)
  t.not(next.access_token, tokens.access_token)
  t.equal(decodePart(next.access_token, 1).sid, decodePart(tokens.access_token, 1).sid, 'same session')
  t.equal(decodePart(next.access_token, 1).sub, user.id)
  t.equal((await verify(app, next.access_token)).statusCode, 204)

  // the successor works in turn
  const third = await refresh(app, next.refresh_token)
  t.equal(third.statusCode, 200)

  const events = await app.loginEvents.find({ type: 'refresh' })
  t.equal(events.length, 2)
  t.match(events[0], { outcome: 'success', user_id: user.id, username: 'alice', session_id: decodePart(tokens.access_token, 1).sid })
  const stored = JSON.stringify(await app.db.connection.collection('login_events').find({}).toArray()) +
    JSON.stringify(await app.db.connection.collection('sessions').find({}).toArray()) +
    JSON.stringify(await app.db.connection.collection('refresh_tokens').find({}).toArray())
  for (const secret of [tokens.refresh_token, next.refresh_token]) t.notMatch(stored, secret, 'no refresh token stored in clear')
})

t.test('reusing a spent refresh token revokes the whole session', async (t) => {
  const app = await build(t)
  const { user, tokens } = await signUp(app)
  const other = await login(app)
  const next = (await refresh(app, tokens.refresh_token)).json<Tokens>()

  // the attacker (or the victim) presents the spent token
  const reuse = await refresh(app, tokens.refresh_token)
  t.equal(reuse.statusCode, 401)
  t.same(reuse.json(), INVALID_GRANT)

  for (const access of [tokens.access_token, next.access_token]) {
    const res = await verify(app, access)
    t.equal(res.statusCode, 401, 'every access token of the session is refused at once')
    t.equal(res.json().error, 'token_revoked')
  }
  t.equal((await refresh(app, next.refresh_token)).statusCode, 401, 'the successor is dead too')
  t.equal((await verify(app, other.access_token)).statusCode, 204, 'other sessions are untouched')
  t.equal((await refresh(app, other.refresh_token)).statusCode, 200)

  const failures = await app.loginEvents.find({ type: 'refresh', outcome: 'failure' })
  const reused = failures.filter((e) => e.reason === 'reuse_detected')
  t.equal(reused.length, 1, 'one reuse_detected event')
  t.match(reused[0], { user_id: user.id, username: 'alice', session_id: decodePart(tokens.access_token, 1).sid })
})

t.test('a token spent several rotations ago is detected as well', async (t) => {
  const app = await build(t)
  const { tokens } = await signUp(app)
  // the thief refreshes twice before the victim comes back with the original token
  const first = (await refresh(app, tokens.refresh_token)).json<Tokens>()
  const second = (await refresh(app, first.refresh_token)).json<Tokens>()
  t.equal((await refresh(app, tokens.refresh_token)).statusCode, 401)
  t.equal((await verify(app, second.access_token)).json().error, 'token_revoked', "the thief's tokens die")
  t.equal((await refresh(app, second.refresh_token)).statusCode, 401)
})

t.test('two concurrent refreshes of one token cannot both succeed', async (t) => {
  const app = await build(t)
  // Several sessions: the two requests interleave differently each time.
  for (let i = 0; i < 8; i++) {
    const { tokens } = await signUp(app, `racer-${i}`)
    const answers = await Promise.all([refresh(app, tokens.refresh_token), refresh(app, tokens.refresh_token)])
    const codes = answers.map((a) => a.statusCode).sort()
    t.same(codes, [200, 401], `session ${i}: one wins; the other is a reuse of a spent token`)
    const winner = answers.find((a) => a.statusCode === 200)?.json<Tokens>()
    t.equal((await refresh(app, winner?.refresh_token ?? '')).statusCode, 401, `session ${i}: and the session is revoked (reuse interval 0)`)
  }
})

t.test('REFRESH_REUSE_INTERVAL: a retry inside the interval gets a fresh pair; later, it is a reuse', async (t) => {
  const clock = manualClock()
  const app = await build(t, { REFRESH_REUSE_INTERVAL: '30s' }, {}, { clock })
  const { tokens } = await signUp(app)
  const lost = (await refresh(app, tokens.refresh_token)).json<Tokens>() // the answer the client never got

  clock.advance(10_000)
  const retry = await refresh(app, tokens.refresh_token)
  t.equal(retry.statusCode, 200, 'the retry is served')
  const retried = retry.json<Tokens>()
  t.not(retried.refresh_token, lost.refresh_token, 'with a fresh pair')
  t.equal((await verify(app, retried.access_token)).statusCode, 204, 'the session lives on')
  t.equal((await verify(app, tokens.access_token)).statusCode, 204)

  const superseded = await refresh(app, lost.refresh_token)
  t.equal(superseded.statusCode, 401, "the lost answer's refresh token no longer works")
  t.equal((await verify(app, retried.access_token)).statusCode, 204, 'without revoking the session')

  const carriedOn = (await refresh(app, retried.refresh_token)).json<Tokens>()
  t.ok(carriedOn.refresh_token, 'the retried pair carries on')

  // outside the interval the same presentation is a theft
  clock.advance(31_000)
  const late = await refresh(app, retried.refresh_token)
  t.equal(late.statusCode, 401)
  t.equal((await verify(app, carriedOn.access_token)).json().error, 'token_revoked')
})

t.test('with the default interval 0, even an immediate retry revokes the session', async (t) => {
  const app = await build(t)
  const { tokens } = await signUp(app)
  const next = (await refresh(app, tokens.refresh_token)).json<Tokens>()
  t.equal((await refresh(app, tokens.refresh_token)).statusCode, 401)
  t.equal((await verify(app, next.access_token)).json().error, 'token_revoked')
})

t.test('SESSION_IDLE_TIMEOUT: a session unused that long ends; using it keeps it alive', async (t) => {
  const clock = manualClock()
  const app = await build(t, { SESSION_IDLE_TIMEOUT: '1h' }, {}, { clock })
  const { user, tokens } = await signUp(app)
  let current = tokens
  for (let i = 0; i < 3; i++) {
    clock.advance(50 * MINUTE)
    const res = await refresh(app, current.refresh_token)
    t.equal(res.statusCode, 200, `refresh after 50 minutes (#${i + 1})`)
    current = res.json<Tokens>()
  }
  t.equal((await app.sessionLifecycle.list({ ...app.tokens.verifyAccessToken(current.access_token) })).length, 1)

  clock.advance(HOUR + 1)
  const idle = await refresh(app, current.refresh_token)
  t.equal(idle.statusCode, 401)
  t.same(idle.json(), INVALID_GRANT)
  t.same(await app.sessions.listLive(user.id, new Date(clock.now())), [], 'no longer listed')
  const [event] = await app.loginEvents.find({ type: 'refresh', outcome: 'failure' })
  t.match(event, { reason: 'idle' })
})

t.test('REFRESH_TOKEN_TTL: the absolute lifetime is not extended by refreshing', async (t) => {
  const clock = manualClock()
  const app = await build(t, { REFRESH_TOKEN_TTL: '1d', SESSION_IDLE_TIMEOUT: '7d' }, {}, { clock })
  const { tokens } = await signUp(app)
  clock.advance(12 * HOUR)
  const half = await refresh(app, tokens.refresh_token)
  t.equal(half.statusCode, 200)
  clock.advance(12 * HOUR)
  const expired = await refresh(app, half.json<Tokens>().refresh_token)
  t.equal(expired.statusCode, 401)
  t.same(expired.json(), INVALID_GRANT)
  const [event] = await app.loginEvents.find({ type: 'refresh', outcome: 'failure' })
  t.match(event, { reason: 'expired' })
})

t.test('an access token never outlives its session: near the end, a refresh gives one that ends with it', async (t) => {
  const clock = manualClock()
  const app = await build(t, { REFRESH_TOKEN_TTL: '1h', ACCESS_TOKEN_TTL: '15m', SESSION_IDLE_TIMEOUT: '7d' }, {}, { clock })
  const { tokens } = await signUp(app)
  clock.advance(50 * MINUTE)
  const late = await refresh(app, tokens.refresh_token)
  t.equal(late.statusCode, 200)
  const { expires_in: expiresIn, access_token: accessToken } = late.json<Tokens>()
  t.ok(expiresIn <= 10 * 60 && expiresIn > 9 * 60, `expires_in ${expiresIn} s: the ten minutes the session has left`)
  const claims = decodePart(accessToken, 1) as { iat: number, exp: number }
  t.equal(claims.exp - claims.iat, expiresIn, 'the token says the same')
  t.equal((await verify(app, accessToken)).statusCode, 204, 'and is accepted')
})

t.test('a locked account gets 403 and nothing is issued; the token works again after the unlock', async (t) => {
  const app = await build(t)
  const { user, tokens } = await signUp(app)
  await app.accountState.lock(user.id, { reason: 'admin' })
  const res = await refresh(app, tokens.refresh_token)
  t.equal(res.statusCode, 403)
  t.equal(res.json().error, 'account_locked')
  const [event] = await app.loginEvents.find({ type: 'refresh', outcome: 'failure' })
  t.match(event, { reason: 'account_locked' })

  await app.accountState.unlock(user.id)
  t.equal((await refresh(app, tokens.refresh_token)).statusCode, 200, 'the token was not spent')
})

t.test('a refresh reads the roles afresh: a role an administrator granted is in the next access token', async (t) => {
  const { app, admin } = await buildWithAdmin(t)
  const { user, tokens } = await signUp(app, 'alice')
  t.same(decodePart(tokens.access_token, 1).roles, ['user'])
  const granted = await as(app, admin.token)({ method: 'PATCH', url: `/admin/users/${user.id}`, payload: { roles: ['user', 'admin'] } })
  t.equal(granted.statusCode, 200)
  t.equal((await app.inject({ url: '/admin/users', headers: bearer(tokens.access_token) })).statusCode, 403, 'the token from before the grant carries the old roles')

  const res = await refresh(app, tokens.refresh_token)
  t.equal(res.statusCode, 200)
  const next = res.json<Tokens>()
  t.same([...decodePart(next.access_token, 1).roles as string[]].sort(), ['admin', 'user'], 'the new access token carries the granted role')
  t.equal((await verify(app, next.access_token)).headers['x-auth-roles'], (decodePart(next.access_token, 1).roles as string[]).join(','))
  t.equal((await app.inject({ url: '/admin/users', headers: bearer(next.access_token) })).statusCode, 200, 'and it opens the admin API')
})

t.test('a refresh after logout answers invalid_grant', async (t) => {
  const app = await build(t)
  const { tokens } = await signUp(app)
  await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(tokens.access_token) })
  const res = await refresh(app, tokens.refresh_token)
  t.equal(res.statusCode, 401)
  t.same(res.json(), INVALID_GRANT)
})

t.test('guessed, truncated and altered tokens: one answer, nothing revoked', async (t) => {
  const app = await build(t)
  const { tokens } = await signUp(app)
  const rt = tokens.refresh_token
  const cases = {
    guessed: 'A'.repeat(43),
    truncated: rt.slice(0, 42),
    'one character': rt.slice(0, 1),
    extended: rt + 'A',
    'last character changed': rt.slice(0, -1) + (rt.endsWith('A') ? 'B' : 'A'),
    'an access token': tokens.access_token.slice(0, 512)
  }
  for (const [name, token] of Object.entries(cases)) {
    const res = await refresh(app, token)
    t.equal(res.statusCode, 401, name)
    t.same(res.json(), INVALID_GRANT, name)
  }
  t.equal((await verify(app, tokens.access_token)).statusCode, 204, 'the session is untouched')
  t.equal((await refresh(app, rt)).statusCode, 200)

  for (const payload of [{}, { refresh_token: '' }, { refresh_token: 'x'.repeat(513) }]) {
    const res = await app.inject({ method: 'POST', url: '/auth/refresh', payload })
    t.equal(res.statusCode, 400, JSON.stringify(payload).slice(0, 40))
    t.equal(res.json().error, 'validation_error')
  }
})

t.test('a near miss takes as long as a random guess: refresh tokens are found by their hash, with no prefix to learn from timing', async (t) => {
  const app = await build(t)
  const { tokens } = await signUp(app)
  const rt = tokens.refresh_token
  /** The real token with one character changed, a different one each time. */
  const nearMiss = (i: number): string => {
    const at = i % rt.length
    return rt.slice(0, at) + (rt[at] === 'A' ? 'B' : 'A') + rt.slice(at + 1)
  }
  const timed = async (token: string): Promise<number> => {
    const start = process.hrtime.bigint()
    const res = await refresh(app, token)
    const ns = Number(process.hrtime.bigint() - start)
    if (res.statusCode !== 401) throw new Error(`expected 401, got ${res.statusCode}`)
    return ns
  }
  const near: number[] = []
  const random: number[] = []
  for (let i = 0; i < 30; i++) {
    // alternate, so that a busy moment of the machine hits both alike
    near.push(await timed(nearMiss(i)))
    random.push(await timed(randomBytes(32).toString('base64url')))
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const ratio = median(near) / median(random)
  // loose on purpose: it catches a near miss taking another path than a guess (a lookup by a
  // prefix, a scan, a second query), not microsecond noise
  t.ok(ratio > 0.5 && ratio < 2, `median near miss / random guess = ${ratio.toFixed(2)}`)
  t.equal((await refresh(app, rt)).statusCode, 200, 'the real token still works')
})
