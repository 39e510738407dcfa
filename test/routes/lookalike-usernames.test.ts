import t from 'tap'
import { build, register, login, decodePart, PASSWORD } from '../helper'
import { testDatabaseUri, dropTestDatabase } from '../db'

async function attempt (app: Awaited<ReturnType<typeof build>>, username: string) {
  return app.inject({ method: 'POST', url: '/auth/register', payload: { username, password: PASSWORD } })
}

t.test('a look-alike of an existing name is taken: 409 username_taken', async (t) => {
  const app = await build(t)
  await register(app, 'alice')
  await register(app, 'ape')
  for (const spoof of ['alıce', 'AIice', 'аре', 'ALİCE', 'Alİce']) {
    const res = await attempt(app, spoof)
    t.equal(res.statusCode, 409, spoof)
    t.same(res.json(), { error: 'username_taken', message: 'This username is already taken' }, spoof)
  }
  t.equal(await app.db.connection.collection('users').countDocuments(), 2)
})

t.test('a name mixing scripts is refused: 400 invalid_username', async (t) => {
  const app = await build(t)
  await register(app, 'alice')
  for (const spoof of ['alісе', 'ΑLICE', 'pаypal']) {
    const res = await attempt(app, spoof)
    t.equal(res.statusCode, 400, spoof)
    t.equal(res.json().error, 'invalid_username', spoof)
    t.match(res.json().message, /script/, spoof)
  }
  t.equal(await app.db.connection.collection('users').countDocuments(), 1)
})

t.test('case folding: straße and STRASSE are one account, and either logs in', async (t) => {
  const app = await build(t)
  const user = await register(app, 'straße')
  const again = await attempt(app, 'STRASSE')
  t.equal(again.statusCode, 409)
  for (const name of ['STRASSE', 'Strasse', 'straße']) {
    const tokens = await login(app, name)
    t.equal(decodePart(tokens.access_token, 1).sub, user.id, name)
  }
})

t.test('Turkish dotted capital I: İlker registers once and logs in as ilker or ILKER', async (t) => {
  const app = await build(t)
  const user = await register(app, 'İlker')
  t.equal(user.username, 'İlker', 'shown as typed')
  t.equal((await attempt(app, 'ilker')).statusCode, 409)
  for (const name of ['ilker', 'ILKER', 'İLKER']) {
    const tokens = await login(app, name)
    t.equal(decodePart(tokens.access_token, 1).sub, user.id, name)
  }
})

t.test('names in one non-Latin script are welcome', async (t) => {
  const app = await build(t)
  for (const [name, loginAs] of [['Дмитрий', 'дмитрий'], ['王小明', '王小明'], ['たなか太郎', 'たなか太郎'], ['ΣΊΣΥΦΟΣ', 'σίσυφος'], ['用户名abc', '用户名ABC']]) {
    const user = await register(app, name)
    t.equal(user.username, name, 'shown as typed')
    const tokens = await login(app, loginAs)
    t.equal(decodePart(tokens.access_token, 1).sub, user.id, `${name} logs in as ${loginAs}`)
  }
})

t.test('accounts stored before the look-alike rules are brought up to date at start', async (t) => {
  const uri = testDatabaseUri()
  t.teardown(() => dropTestDatabase(uri))
  const first = await build(t, { MONGODB_URI: uri })
  const hash = await first.passwords.hash(PASSWORD)
  // As the previous version stored them: lower-cased key, no skeleton.
  await first.db.connection.collection('users').insertOne({ username: 'Straße', username_key: 'straße', email: null, password_hash: hash, roles: ['user'], created_at: new Date(), last_login_at: null, locked_until: null, lock_reason: null })
  // ...and it kept no record of migrations.
  await first.db.connection.collection('migrations').deleteMany({})
  await first.close()

  const app = await build(t, { MONGODB_URI: uri })
  const tokens = await login(app, 'STRASSE')
  t.equal(decodePart(tokens.access_token, 1).preferred_username, 'Straße', 'the folded name logs in')
  t.equal((await attempt(app, 'strasse')).statusCode, 409, 'the folded name is taken')
})
