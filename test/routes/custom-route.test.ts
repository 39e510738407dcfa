/** What README's "Protecting your own routes" shows: a service built on Warden adds a route that needs a permission. */
import t from 'tap'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import warden, { serverOptions } from '../../src/app'
import { loadConfig } from '../../src/config'
import { testDatabaseUri, dropTestDatabase } from '../db'
import { bearer, login, register, TEST_ENV } from '../helper'
import { ROOT, createUser } from '../admin'

t.test('a route of another team, guarded by a permission from RBAC_FILE', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-rbac-'))
  const mongodbUri = testDatabaseUri()
  writeFileSync(join(dir, 'rbac.yaml'), 'admin: ["admin:*", "reports:*"]\nuser: []\nanalyst: ["reports:read"]\n')
  const config = loadConfig({ ...TEST_ENV, RBAC_FILE: join(dir, 'rbac.yaml'), ADMIN_USERNAME: ROOT.username, ADMIN_PASSWORD: ROOT.password })

  // As in the README:
  const app = Fastify(serverOptions(config))
  await app.register(fp(warden), { config, mongodbUri })
  app.get('/reports', {
    onRequest: [app.authenticate, app.authorize({ permissions: ['reports:read'] })]
  }, async (request) => ({ for: request.auth.username }))
  await app.ready()
  t.teardown(async () => {
    await app.close()
    await dropTestDatabase(mongodbUri)
    rmSync(dir, { recursive: true, force: true })
  })

  const admin = await login(app, ROOT.username, ROOT.password)
  await createUser(app, admin.access_token, 'ann', ['analyst'])
  await register(app, 'bob')
  const ann = await login(app, 'ann')
  const bob = await login(app, 'bob')

  const allowed = await app.inject({ url: '/reports', headers: bearer(ann.access_token) })
  t.equal(allowed.statusCode, 200)
  t.same(allowed.json(), { for: 'ann' })
  t.equal((await app.inject({ url: '/reports', headers: bearer(admin.access_token) })).statusCode, 200, 'admin:* and reports:* ')
  const refused = await app.inject({ url: '/reports', headers: bearer(bob.access_token) })
  t.equal(refused.statusCode, 403)
  t.same(refused.json(), { error: 'forbidden', message: 'This action requires the reports:read permission' })
  t.match(refused.headers['www-authenticate'], /error="insufficient_scope"/)
  t.equal((await app.inject({ url: '/reports' })).json().error, 'missing_token')
  t.equal((await app.inject({ url: '/users/me', headers: bearer(bob.access_token) })).statusCode, 200, 'Warden\'s own routes are there')
})
