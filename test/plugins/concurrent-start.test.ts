import t from 'tap'
import { build, signUp, bearer } from '../helper'
import { testDatabaseUri, dropTestDatabase } from '../db'

t.test('instances starting together on a new database all start, and share one signing key', async (t) => {
  const env = { MONGODB_URI: testDatabaseUri() }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  const apps = await Promise.all([build(t, env), build(t, env), build(t, env)])
  t.equal(new Set(apps.map((app) => app.tokens.kid)).size, 1, 'one key')
  const { tokens } = await signUp(apps[0])
  for (const app of apps) t.equal((await app.inject({ url: '/auth/verify', headers: bearer(tokens.access_token) })).statusCode, 204)
})

t.test('a one-time migration run by several instances at once is recorded without an error', async (t) => {
  const app = await build(t)
  let runs = 0
  const migrate = async () => { runs++ }
  await Promise.all(Array.from({ length: 8 }, () => app.migrations.once('concurrent-test', migrate)))
  t.ok(runs >= 1, `ran ${runs} times (a migration must be safe to repeat)`)
  await app.migrations.once('concurrent-test', migrate)
  const after = runs
  await app.migrations.once('concurrent-test', migrate)
  t.equal(runs, after, 'recorded: not run again')
})
