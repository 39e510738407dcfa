import t from 'tap'
import { build, login, bearer, PASSWORD } from '../helper'
import { testDatabaseUri, dropTestDatabase } from '../db'
import { ROOT, as } from '../admin'

const BOOTSTRAP = { ADMIN_USERNAME: ROOT.username, ADMIN_PASSWORD: ROOT.password }

t.test('closed registration: the first admin from the environment creates every other account', async (t) => {
  const app = await build(t, { ...BOOTSTRAP, REGISTRATION: 'closed' })
  const signUp = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'walk-in', password: PASSWORD } })
  t.equal(signUp.statusCode, 403)
  t.equal(signUp.json().error, 'registration_closed')

  const admin = await login(app, ROOT.username, ROOT.password)
  const created = await as(app, admin.access_token)({ method: 'POST', url: '/admin/users', payload: { username: 'invited', password: PASSWORD } })
  t.equal(created.statusCode, 201)
  const invited = await login(app, 'invited')
  t.match((await app.inject({ url: '/users/me', headers: bearer(invited.access_token) })).json(), { username: 'invited', roles: ['user'] })

  const [event] = await app.loginEvents.find({ type: 'register', username: ROOT.username })
  t.match(event, { outcome: 'success', user_agent: 'warden start (ADMIN_USERNAME)', actor_id: 'system' }, 'Warden itself made the account')
})

t.test('the first admin is created once: later starts leave the accounts alone', async (t) => {
  const env = { MONGODB_URI: testDatabaseUri() }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  const first = await build(t, { ...env, ...BOOTSTRAP })
  const { id } = (await first.users.findByUsernameKey(ROOT.username))!
  await first.close()

  const again = await build(t, { ...env, ...BOOTSTRAP })
  t.equal((await again.users.findByUsernameKey(ROOT.username))?.id, id, 'same account')
  await again.close()

  const other = await build(t, { ...env, ADMIN_USERNAME: 'another-root', ADMIN_PASSWORD: ROOT.password })
  t.equal(await other.users.findByUsernameKey('another-root'), null, 'an admin exists: no second one')
  await login(other, ROOT.username, ROOT.password)
})

t.test('an ADMIN_PASSWORD the policy refuses stops the start with a clear message', async (t) => {
  await t.rejects(build(t, { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'password' }), /^ADMIN_USERNAME\/ADMIN_PASSWORD: cannot create the initial admin: Password is too common/)
  await t.rejects(build(t, { ADMIN_USERNAME: 'x', ADMIN_PASSWORD: ROOT.password }), /cannot create the initial admin: Username must be/)
})
