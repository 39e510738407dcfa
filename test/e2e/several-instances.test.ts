import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mongo } from 'mongoose'
import { eventually, PASSWORD, sample } from '../helper'
import type { RunningServer } from '../servers'
import { ADMIN, startPair } from './instances'
import { LOADER, ROOT } from './processes'
import type { Answer, Call } from './load'

/**
 * Two Warden processes sharing one database and one Redis, as the README's "Running several
 * instances" and "Several instances, and Redis" describe them: an admin lock and unlock and a key
 * rotation (`warden keys rotate`, a third process) made through one are honoured by the other
 * within the Redis bound (a rotation: plus one read of the keys); the throttle, the rate limit of POST /auth/, the automatic lock and the
 * stand-in lock of an unknown username count the attempts made on both; parallel registrations of
 * one username on both make one account. (What ending a session does is in propagation.test.ts.)
 */

/** The README's bound with Redis: one round trip, on a busy two-core machine. */
const REDIS_BOUND_MS = 100
/**
 * A rotation's message names the new key only: each instance then reads its keys from the database.
 * The README's bound is one Redis round trip plus that read, allowed 250 ms as one poll is.
 */
const ROTATION_BOUND_MS = REDIS_BOUND_MS + 250
const WRONG = 'not the right password'

const kidOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString()).kid

t.test('two instances on one database and one Redis', async (t) => {
  // The poll is set far beyond the test: only Redis can meet its bound.
  const { a, b, redis, uri, name, other, from, call, login: loginCall, tokenOf, verify, register, idOf } =
    await startPair(t, { PROPAGATION_POLL_INTERVAL: '600', THROTTLE_THRESHOLD: '4', RATE_LIMIT_AUTH_MAX: '6', LOCKOUT_THRESHOLD: '6' })
  const roots = { [a.url]: await tokenOf(a, ADMIN.username, ADMIN.password), [b.url]: await tokenOf(b, ADMIN.username, ADMIN.password) }
  const admin = (server: RunningServer, path: string): Promise<Answer> =>
    call(server, { kind: 'admin', method: 'POST', path, headers: { ...from(), authorization: `Bearer ${roots[server.url]}` }, body: {} })

  t.test('an admin lock and unlock made through one are applied by the other within the Redis bound', async (t) => {
    const id = await idOf('carol')
    const token = await tokenOf(a, 'carol')
    for (const [what, via, status] of [['lock', a, 403], ['unlock', b, 204], ['lock', b, 403], ['unlock', a, 204]] as const) {
      t.equal((await admin(via, `/admin/users/${id}/${what}`)).status, 200, `${what} through ${name(via)}`)
      t.equal(await verify(via, token), status, `applied at once by ${name(via)}`)
      const ms = await eventually(async () => await verify(other(via), token) === status, REDIS_BOUND_MS, `the ${what} to reach ${name(other(via))}`)
      t.comment(`${what} through ${name(via)}: applied by ${name(other(via))} after ${ms} ms`)
    }
  })

  t.test('a key rotation made by `warden keys rotate` is taken up by both within the Redis bound and one read of the keys', async (t) => {
    const before = await tokenOf(a, 'carol')
    const oldKid = kidOf(before)
    t.equal(kidOf(await tokenOf(b, 'carol')), oldKid, 'one signing key to start with')
    const jwks = async (server: RunningServer): Promise<string[]> =>
      ((await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid)

    const byRedis = async (server: RunningServer): Promise<number> =>
      sample(await (await fetch(`${server.url}/metrics`)).text(), 'warden_propagation_lag_seconds_count', { transport: 'redis' })
    const heard = [await byRedis(a), await byRedis(b)]

    // The command runs as its own process, on the same database and Redis. Both JWKS are watched
    // from before it starts: when each first lists a key other than the old one.
    const cli = spawn(process.execPath, [...LOADER, 'src/cli.ts', 'keys', 'rotate', '--json'], {
      cwd: ROOT, env: { ...process.env, MONGODB_URI: uri, REDIS_URL: redis.url, LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'inherit']
    })
    const exited = once(cli, 'exit')
    const seen = [a, b].map(async (server) => {
      await eventually(async () => (await jwks(server)).length > 1, 120_000, `a new key in the JWKS of ${name(server)}`)
      return Date.now()
    })
    const [chunk] = await once(cli.stdout, 'data') as [Buffer]
    // The command prints once the key is stored, journalled and published.
    const rotatedAt = Date.now()
    const { kid } = JSON.parse(chunk.toString()) as { kid: string }
    const [code] = await exited
    t.equal(code, 0, 'the command succeeds')
    t.not(kid, oldKid)
    const seenAt = await Promise.all(seen)
    for (const [i, server] of [a, b].entries()) {
      const ms = seenAt[i] - rotatedAt
      t.comment(`${name(server)} published the new key ${ms} ms after the command printed it`)
      t.ok(ms <= ROTATION_BOUND_MS, `${name(server)}: within ${ROTATION_BOUND_MS} ms`)
      t.ok(await byRedis(server) > heard[i], `${name(server)}: heard of it through Redis`)
    }
    for (const server of [a, b]) {
      const token = await tokenOf(server, 'carol')
      t.equal(kidOf(token), kid, `${name(server)} signs with the new key`)
      t.equal(await verify(other(server), token), 204, `and ${name(other(server))} accepts it`)
      t.equal(await verify(server, before), 204, `${name(server)} still accepts a token of the old key`)
      t.same((await jwks(server)).sort(), [kid, oldKid].sort(), `${name(server)} publishes both keys`)
    }
  })

  t.test('limits count the attempts made on both', async (t) => {
    await idOf('erin')

    // The (username, address) throttle: two failures on each, then both refuse.
    const pair = from()
    for (const server of [a, b, a, b]) t.equal((await call(server, loginCall('erin', WRONG, pair))).status, 401)
    for (const server of [a, b]) {
      const res = await call(server, loginCall('erin', PASSWORD, pair))
      t.same([res.status, (res.json as { error?: string }).error], [429, 'too_many_attempts'], `${name(server)}: throttled after ${4} failures split between the two`)
    }

    // The rate limit of POST /auth/ per address: three requests on each, then both refuse.
    const address = from()
    const unlockRequest: Call = { kind: 'unlock', method: 'POST', path: '/auth/unlock/request', headers: address, body: { username: 'erin' } }
    for (const server of [a, b, a, b, a, b]) t.equal((await call(server, unlockRequest)).status, 202)
    for (const server of [a, b]) t.equal((await call(server, unlockRequest)).status, 429, `${name(server)}: rate limited after 6 requests split between the two`)

    // The automatic lock: six failures in a row from six addresses, alternating, lock the account on both.
    await idOf('gina')
    const gina = await tokenOf(b, 'gina')
    for (const server of [a, b, a, b, a, b]) t.equal((await call(server, loginCall('gina', WRONG))).status, 401)
    for (const server of [a, b]) {
      const res = await call(server, loginCall('gina', PASSWORD))
      t.same([res.status, (res.json as { error?: string }).error], [403, 'account_locked'], `${name(server)}: locked after 6 failures split between the two`)
    }
    for (const server of [a, b]) {
      const ms = await eventually(async () => await verify(server, gina) === 403, REDIS_BOUND_MS, `the lock to reach ${name(server)}`)
      t.comment(`the automatic lock refused gina's token on ${name(server)} after ${ms} ms`)
    }

    // An unknown username gets the same stand-in lock, counted in Redis.
    for (const server of [a, b, a, b, a, b]) t.equal((await call(server, loginCall('nobody', WRONG))).status, 401)
    for (const server of [a, b]) t.equal((await call(server, loginCall('nobody', WRONG))).status, 403, `${name(server)}: an unknown username is locked alike`)
  })

  t.test('parallel registrations of one username on both make exactly one account', async (t) => {
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => register(i % 2 === 0 ? a : b, 'frank')))
    const statuses = answers.map((r) => r.status)
    t.equal(statuses.filter((s) => s === 201).length, 1, 'one 201')
    t.same(answers.filter((r) => r.status !== 201).map((r) => [r.status, (r.json as { error?: string }).error]), Array.from({ length: 19 }, () => [409, 'username_taken']), 'and 409 username_taken for the 19 others')
    t.comment(`the 201 came from ${answers.findIndex((r) => r.status === 201) % 2 === 0 ? 'A' : 'B'}`)
    const client = new mongo.MongoClient(uri)
    t.teardown(() => client.close())
    t.equal(await client.db().collection('users').countDocuments({ username: 'frank' }), 1, 'one document')
    const events = await client.db().collection('login_events').find({ type: 'register', username: 'frank' }).toArray()
    t.same([events.filter((e) => e.outcome === 'success').length, events.filter((e) => e.reason === 'username_taken').length], [1, 19], 'one registration event, 19 refusals')
    t.ok(await tokenOf(b, 'frank'), 'the account works, on both')
    t.ok(await tokenOf(a, 'frank'))
  })
})
