import t from 'tap'
import type { FastifyInstance } from 'fastify'
import accountState, { PERMANENT, AUTO_LOCK } from '../../plugins/account-state'
import propagation from '../../plugins/propagation'
import users from '../../plugins/stores/users'
import sessions from '../../plugins/stores/sessions'
import stateChanges from '../../plugins/stores/state-changes'
import type { StateChange } from '../../plugins/stores/state-changes'
import type { AuthContext } from '../../plugins/tokens'
import { localOrigin } from '../../src/lib/origin'
import { bare, type Teardown } from '../helper'
import { testDatabaseUri, dropTestDatabase } from '../db'

async function stateApp (t: Teardown, uri?: string): Promise<FastifyInstance> {
  const app = await bare(t, {}, uri ?? true)
  await app.register(propagation)
  await app.register(users)
  await app.register(sessions)
  await app.register(stateChanges)
  await app.register(accountState)
  await app.ready()
  return app
}

function context (userId: string, sessionId: string): AuthContext {
  const now = Math.floor(Date.now() / 1000)
  return { userId, sessionId, username: 'u', roles: ['user'], tokenId: 'j', issuedAt: now, expiresAt: (now + 900) * 1000, rolesHeader: 'user' }
}

async function newUser (app: FastifyInstance, name = 'dana') {
  return app.users.create({ username: name, usernameKey: name, usernameSkeleton: name, email: null, passwordHash: 'h', roles: ['user'] })
}

t.test('a lock persists, bites at once, is published, and an unlock undoes all three', async (t) => {
  const app = await stateApp(t)
  const user = await newUser(app)
  const published: StateChange[] = []
  app.propagation.onPublish((c) => published.push(c))
  const { sessionId } = await app.sessions.create(user.id, localOrigin('test'))

  t.equal(app.accountState.check(context(user.id, sessionId)), null)
  t.equal(await app.accountState.lock(user.id, { until: new Date(Date.now() + 60_000), reason: 'admin' }), true)
  t.match(app.accountState.check(context(user.id, sessionId)), { code: 'WARDEN_ACCOUNT_LOCKED' })
  t.match((await app.users.findById(user.id))?.lockReason, 'admin', 'the lock is stored with its reason')
  t.match(published, [{ kind: 'lock', userId: user.id }])

  t.equal(await app.accountState.unlock(user.id), true)
  t.equal(app.accountState.check(context(user.id, sessionId)), null)
  t.equal((await app.users.findById(user.id))?.lockedUntil, null)
  t.match(published, [{ kind: 'lock' }, { kind: 'unlock', userId: user.id }])

  t.equal(await app.accountState.lock('0123456789abcdef01234567', { reason: 'admin' }), false, 'no such user')
})

t.test('a lock without an end holds until unlocked', async (t) => {
  const app = await stateApp(t)
  const user = await newUser(app)
  await app.accountState.lock(user.id, { reason: 'admin' })
  t.equal(app.accountState.lockedUntil(user.id), PERMANENT)
})

t.test('revoking a user ends every session but the one kept', async (t) => {
  const app = await stateApp(t)
  const user = await newUser(app)
  const [a, b, c] = await Promise.all([1, 2, 3].map(() => app.sessions.create(user.id, localOrigin('test'))))
  t.equal(await app.accountState.revokeUser(user.id, c.sessionId), 2)
  t.match(app.accountState.check(context(user.id, a.sessionId)), { code: 'WARDEN_TOKEN_REVOKED' })
  t.match(app.accountState.check(context(user.id, b.sessionId)), { code: 'WARDEN_TOKEN_REVOKED' })
  t.equal(app.accountState.check(context(user.id, c.sessionId)), null)
  t.same((await app.sessions.listLive(user.id)).map((s) => s.id), [c.sessionId])
  t.equal(await app.accountState.revokeSession(a.sessionId), false, 'an ended session is not ended twice')
})

t.test('a new instance loads the live state from the journal; remote changes apply', async (t) => {
  const uri = testDatabaseUri()
  t.teardown(() => dropTestDatabase(uri))
  const first = await stateApp(t, uri)
  const user = await newUser(first)
  const { sessionId } = await first.sessions.create(user.id, localOrigin('test'))
  await first.accountState.revokeSession(sessionId)
  await first.accountState.lock(user.id, { until: new Date(Date.now() + 60_000), reason: 'admin' })

  const second = await stateApp(t, uri)
  t.match(second.accountState.check(context(user.id, sessionId)), { code: 'WARDEN_TOKEN_REVOKED' })
  t.equal(second.accountState.isLocked(user.id), true)

  second.propagation.receive({ id: 'remote-1', kind: 'unlock', userId: user.id, at: Date.now(), until: Date.now() + 60_000 })
  t.equal(second.accountState.isLocked(user.id), false, 'a change from another instance applies here')
})

const ref = (userId: string, sessionId: string) => ({ userId, sessionId })
const soon = () => new Date(Date.now() + 60_000)

t.test('a lock carries its reason; a session admitted during an automatic lock passes it, no other session does', async (t) => {
  const app = await stateApp(t)
  const user = await app.users.create({ username: 'dana', usernameKey: 'dana', usernameSkeleton: 'dana', email: null, passwordHash: 'h', roles: ['user'] })
  const published: StateChange[] = []
  app.propagation.onPublish((c) => published.push(c))

  await app.accountState.lock(user.id, { until: soon(), reason: AUTO_LOCK })
  t.match(app.accountState.lockOf(user.id), { reason: AUTO_LOCK, until: Number })
  t.match(published, [{ kind: 'lock', reason: AUTO_LOCK }], 'the reason travels with the lock')
  await app.accountState.admitSession(user.id, 'device-session', Date.now() + 3600_000)
  t.equal(app.accountState.check(ref(user.id, 'device-session')), null)
  t.match(app.accountState.check(ref(user.id, 'other-session')), { code: 'WARDEN_ACCOUNT_LOCKED' })
  t.match(published[1], { kind: 'device_session', sessionId: 'device-session' })

  await app.accountState.lock(user.id, { until: soon(), reason: 'admin' })
  t.match(app.accountState.check(ref(user.id, 'device-session')), { code: 'WARDEN_ACCOUNT_LOCKED' }, 'an admin lock lets nothing through')
  await app.accountState.admitSession(user.id, 'late-session', Date.now() + 3600_000)
  t.match(app.accountState.check(ref(user.id, 'late-session')), { code: 'WARDEN_ACCOUNT_LOCKED' }, 'no admission during an admin lock')
})

t.test('a new instance loads lock reasons and admitted sessions from the journal', async (t) => {
  const uri = testDatabaseUri()
  t.teardown(() => dropTestDatabase(uri))
  const first = await stateApp(t, uri)
  const user = await first.users.create({ username: 'erin', usernameKey: 'erin', usernameSkeleton: 'erin', email: null, passwordHash: 'h', roles: ['user'] })
  await first.accountState.lock(user.id, { until: soon(), reason: AUTO_LOCK })
  await first.accountState.admitSession(user.id, 's1', Date.now() + 3600_000)
  const second = await stateApp(t, uri)
  t.equal(second.accountState.lockOf(user.id)?.reason, AUTO_LOCK)
  t.equal(second.accountState.check(ref(user.id, 's1')), null)
  t.match(second.accountState.check(ref(user.id, 's2')), { code: 'WARDEN_ACCOUNT_LOCKED' })

  await second.accountState.unlock(user.id)
  const count = await second.users.loginCount(user.id)
  t.same(count, { failedLogins: 0, autoLocks: 0, blockedUntil: 0 }, 'an unlock opens logins and clears the counts')
})
