import t from 'tap'
import { build } from '../helper'
import { testDatabaseUri, dropTestDatabase } from '../db'
import { warden } from './cli-process'

t.test('warden user create --password-stdin creates an admin the server knows', async (t) => {
  const env = { MONGODB_URI: testDatabaseUri(), LOG_LEVEL: 'silent' }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  const out = await warden(['user', 'create', '--username', 'Root', '--password-stdin', '--role', 'admin'], env, 'an admin passphrase\n')
  t.equal(out.code, 0, out.stderr)
  const created = JSON.parse(out.stdout)
  t.match(created, { id: String, username: 'Root', roles: ['user', 'admin'] })
  t.notMatch(out.stdout + out.stderr, 'an admin passphrase')

  const app = await build(t, env)
  const login = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'root', password: 'an admin passphrase' } })
  t.equal(login.statusCode, 200, 'the trailing newline of stdin is not part of the password')
  const [event] = await app.loginEvents.find({ type: 'register' })
  t.match(event, { outcome: 'success', ip: '127.0.0.1', user_agent: 'warden cli' })
})

t.test('warden user create refuses a weak password with one line', async (t) => {
  const env = { MONGODB_URI: testDatabaseUri(), LOG_LEVEL: 'silent' }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  const out = await warden(['user', 'create', '--username', 'someone', '--password-stdin'], env, 'password\n')
  t.equal(out.code, 1)
  t.match(out.stderr, /^warden: Password is too common[^\n]*\n$/)
})
