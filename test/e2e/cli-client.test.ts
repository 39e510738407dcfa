import t from 'tap'
import { build, signUp, basic } from '../helper'
import { testDatabaseUri, dropTestDatabase } from '../db'
import { warden } from './processes'

// every command is a process that loads Warden from source: slow on a busy machine
t.setTimeout(300_000)

t.test('warden client create --json, then introspection with that client; list and delete', async (t) => {
  const env = { MONGODB_URI: testDatabaseUri(), LOG_LEVEL: 'silent' }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  const created = await warden(['client', 'create', 'billing', '--json'], env, '')
  t.equal(created.code, 0, created.stderr)
  const credentials = JSON.parse(created.stdout)
  t.same(Object.keys(credentials).sort(), ['client_id', 'client_secret'])

  const app = await build(t, env)
  const { tokens } = await signUp(app)
  const introspect = () => app.inject({ method: 'POST', url: '/oauth/introspect', headers: basic(credentials.client_id, credentials.client_secret), payload: { token: tokens.access_token } })
  const res = await introspect()
  t.equal(res.statusCode, 200)
  t.match(res.json(), { active: true, username: 'alice' })

  const listed = await warden(['client', 'list', '--json'], env, '')
  t.equal(listed.code, 0, listed.stderr)
  t.match(JSON.parse(listed.stdout), [{ client_id: credentials.client_id, name: 'billing', created_at: String }])
  t.notMatch(listed.stdout, credentials.client_secret, 'the secret is never shown again')

  const again = await warden(['client', 'create', 'billing'], env, '')
  t.equal(again.code, 1)
  t.match(again.stderr, /^warden: A service client named "billing" already exists\n$/)

  t.equal((await warden(['client', 'delete', credentials.client_id], env, '')).code, 0)
  t.equal((await introspect()).statusCode, 401, 'a deleted client is refused at once')
  t.equal(await app.clients.remove(credentials.client_id), false, 'it is gone')

  t.equal((await warden(['client', 'create'], env, '')).code, 2, 'a missing name is a usage error')
})
