import t from 'tap'
import { Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'
import { build, signUp, bearer, decodePart, eventually, type Teardown } from '../helper'
import { testDatabaseUri, dropTestDatabase } from '../db'
import { startRedis } from '../servers'
import { parseChange } from '../../plugins/propagation-redis'

/** The poll interval of these tests, and how late after it a change may arrive on a loaded machine. */
const POLL_S = 1
const SLACK_MS = 1500

function sharedDatabase (t: Teardown): string {
  const uri = testDatabaseUri()
  t.teardown(() => dropTestDatabase(uri))
  return uri
}

async function status (app: FastifyInstance, token: string): Promise<number> {
  return (await app.inject({ url: '/auth/verify', headers: bearer(token) })).statusCode
}

/** Milliseconds until `app` answers `code` for `token`; fails after `limitMs`. */
function refusedWithin (app: FastifyInstance, token: string, code: number, limitMs: number): Promise<number> {
  return eventually(async () => await status(app, token) === code, limitMs, `verify answering ${code}`)
}

t.test('without Redis: a revocation and a lock made on one instance reach another by the poll', async (t) => {
  const env = { MONGODB_URI: sharedDatabase(t), PROPAGATION_POLL_INTERVAL: String(POLL_S) }
  const a = await build(t, env)
  const b = await build(t, env)
  const { user, tokens } = await signUp(a)
  const other = (await signUp(a, 'bob')).tokens
  t.equal(await status(b, tokens.access_token), 204)

  await a.accountState.revokeSession(decodePart(tokens.access_token, 1).sid as string)
  t.equal(await status(a, tokens.access_token), 401, 'refused at once where it was made')
  const revokedMs = await refusedWithin(b, tokens.access_token, 401, POLL_S * 1000 + SLACK_MS)
  t.comment(`revocation reached the other instance in ${revokedMs} ms`)

  const bob = await b.users.findByUsernameKey('bob')
  await b.accountState.lock(bob!.id, { reason: 'admin' })
  const lockedMs = await refusedWithin(a, other.access_token, 403, POLL_S * 1000 + SLACK_MS)
  t.comment(`lock reached the other instance in ${lockedMs} ms`)

  await a.accountState.unlock(bob!.id)
  await refusedWithin(b, other.access_token, 204, POLL_S * 1000 + SLACK_MS)
  t.pass('and so does the unlock')
  t.ok(user.id)
})

t.test('an instance started later loads what was journalled and follows what comes next', async (t) => {
  const env = { MONGODB_URI: sharedDatabase(t), PROPAGATION_POLL_INTERVAL: String(POLL_S) }
  const a = await build(t, env)
  const first = await signUp(a)
  const second = (await signUp(a, 'bob')).tokens
  await a.accountState.revokeSession(decodePart(first.tokens.access_token, 1).sid as string)
  const b = await build(t, env)
  t.equal(await status(b, first.tokens.access_token), 401, 'loaded at start')
  await a.accountState.revokeSession(decodePart(second.access_token, 1).sid as string)
  await refusedWithin(b, second.access_token, 401, POLL_S * 1000 + SLACK_MS)
  t.pass('followed after start')
})

t.test('with Redis: changes arrive without waiting for the poll', async (t) => {
  const REDIS_URL = (await startRedis(t)).url
  // A poll interval far longer than the test: only Redis can carry the change in time.
  const env = { MONGODB_URI: sharedDatabase(t), REDIS_URL, PROPAGATION_POLL_INTERVAL: '600' }
  const a = await build(t, env)
  const b = await build(t, env)
  const { user, tokens } = await signUp(a)
  t.equal(await status(b, tokens.access_token), 204)

  await a.accountState.revokeUser(user.id)
  const ms = await refusedWithin(b, tokens.access_token, 401, 1000)
  t.comment(`revocation reached the other instance through Redis in ${ms} ms`)

  const bob = await signUp(b, 'bob')
  await b.accountState.lock(bob.user.id, { reason: 'admin' })
  const lockMs = await refusedWithin(a, bob.tokens.access_token, 403, 1000)
  t.comment(`lock reached the other instance through Redis in ${lockMs} ms`)
})

t.test('with Redis: the poll still carries what Redis did not', async (t) => {
  const REDIS_URL = (await startRedis(t)).url
  const uri = sharedDatabase(t)
  const b = await build(t, { MONGODB_URI: uri, REDIS_URL, PROPAGATION_POLL_INTERVAL: String(POLL_S) })
  // An instance that publishes nothing on Redis (as if every message it sent were lost).
  const silent = await build(t, { MONGODB_URI: uri, PROPAGATION_POLL_INTERVAL: String(POLL_S) })
  const { user, tokens } = await signUp(silent)
  await silent.accountState.lock(user.id, { reason: 'admin' })
  const ms = await refusedWithin(b, tokens.access_token, 403, POLL_S * 1000 + SLACK_MS)
  t.comment(`lock reached the Redis-connected instance by the poll in ${ms} ms`)
})

t.test('with Redis: messages from another database or malformed ones change nothing', async (t) => {
  const REDIS_URL = (await startRedis(t)).url
  const uri = sharedDatabase(t)
  const app = await build(t, { MONGODB_URI: uri, REDIS_URL, PROPAGATION_POLL_INTERVAL: '600' })
  const { user, tokens } = await signUp(app)
  const sid = decodePart(tokens.access_token, 1).sid as string
  const publisher = new Redis(REDIS_URL)
  t.teardown(() => { publisher.disconnect() })
  const channel = `warden:state-changes:${app.db.connection.name}`
  const change = { id: 'aaaaaaaaaaaaaaaaaaaaaaaa', kind: 'session_revoked', sessionId: sid, at: Date.now(), until: Date.now() + 60_000 }

  await publisher.publish('warden:state-changes:another_database', JSON.stringify(change))
  await publisher.publish(channel, 'not json')
  await publisher.publish(channel, JSON.stringify({ ...change, kind: 'explode' }))
  await publisher.publish(channel, JSON.stringify({ ...change, at: 'soon' }))
  // A well-formed lock of another user, sent last: once it is applied, the messages before it were seen.
  const bob = await signUp(app, 'bob')
  await publisher.publish(channel, JSON.stringify({ id: 'bbbbbbbbbbbbbbbbbbbbbbbb', kind: 'lock', userId: bob.user.id, at: Date.now(), until: Date.now() + 60_000 }))
  await refusedWithin(app, bob.tokens.access_token, 403, 2000)
  t.equal(await status(app, tokens.access_token), 204, 'alice is untouched')
  t.ok(user.id)
})

t.test('parseChange accepts only well-formed changes', async (t) => {
  const good = { id: 'x', kind: 'lock', userId: 'u', at: 1, until: 2 }
  t.same(parseChange(JSON.stringify(good)), good)
  t.same(parseChange(JSON.stringify({ ...good, extra: 'dropped' })), good)
  for (const bad of ['', 'null', '[]', '42', JSON.stringify({ ...good, id: 1 }), JSON.stringify({ ...good, kind: 'nope' }),
    JSON.stringify({ ...good, at: null }), JSON.stringify({ ...good, until: 'x' }), JSON.stringify({ ...good, userId: 5 })]) {
    t.equal(parseChange(bad), null, bad)
  }
})
