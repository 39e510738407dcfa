import t from 'tap'
import type { FastifyInstance } from 'fastify'
import accountState, { AUTO_LOCK } from '../../plugins/account-state'
import propagation from '../../plugins/propagation'
import users from '../../plugins/stores/users'
import sessions from '../../plugins/stores/sessions'
import stateChanges, { type StateChange } from '../../plugins/stores/state-changes'
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

const ref = (userId: string, sessionId: string) => ({ userId, sessionId })
const soon = () => new Date(Date.now() + 60_000)

t.test('a lock carries its reason; a session admitted during an automatic lock passes it, no other session does', async (t) => {
  const app = await stateApp(t)
  const user = await app.users.create({ username: 'dana', usernameKey: 'dana', email: null, passwordHash: 'h', roles: ['user'] })
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
  const user = await first.users.create({ username: 'erin', usernameKey: 'erin', email: null, passwordHash: 'h', roles: ['user'] })
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
