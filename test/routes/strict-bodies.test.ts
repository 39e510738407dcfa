import t from 'tap'
import Fastify from 'fastify'
import { serverOptions } from '../../src/app'
import { loadConfig } from '../../src/config'
import { build, register, PASSWORD } from '../helper'
import { as, buildWithAdmin } from '../admin'

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

t.test('JSON bodies are validated strictly: no array, number or boolean stands in for a string', async (t) => {
  const app = await build(t)
  await register(app, 'alice')
  const logins: unknown[] = [
    { username: ['alice'], password: PASSWORD },
    { username: 'alice', password: [PASSWORD] },
    { username: { toString: 'alice' }, password: PASSWORD }
  ]
  for (const payload of logins) {
    const res = await app.inject({ method: 'POST', url: '/auth/login', payload: payload as object })
    t.equal(res.statusCode, 400, JSON.stringify(payload))
    t.equal(res.json().error, 'validation_error', JSON.stringify(payload))
    t.notOk(res.json().access_token, 'no token')
  }
  const registrations: unknown[] = [
    { username: true, password: PASSWORD },
    { username: 123456789, password: PASSWORD },
    { username: 'carol', password: 12345678901234 },
    { username: 'carol', password: PASSWORD, email: ['carol@example.com'] },
    { username: null, password: PASSWORD }
  ]
  for (const payload of registrations) {
    const res = await app.inject({ method: 'POST', url: '/auth/register', payload: payload as object })
    t.equal(res.statusCode, 400, JSON.stringify(payload))
    t.equal(res.json().error, 'validation_error', JSON.stringify(payload))
  }
  t.equal(await app.db.connection.collection('users').countDocuments(), 1, 'no account was created from a coerced value')
})

t.test('form bodies cannot smuggle operators or repeated fields', async (t) => {
  const app = await build(t)
  await register(app, 'alice')
  const bodies = [
    `username[$ne]=x&password=${encodeURIComponent(PASSWORD)}`,
    `username[]=alice&password=${encodeURIComponent(PASSWORD)}`,
    `username=alice&username=alice&password=${encodeURIComponent(PASSWORD)}`,
    `username=alice&password[$ne]=x`,
    `username=alice&password=x&password=${encodeURIComponent(PASSWORD)}`
  ]
  for (const payload of bodies) {
    const res = await app.inject({ method: 'POST', url: '/auth/login', headers: FORM, payload })
    t.equal(res.statusCode, 400, payload)
    t.equal(res.json().error, 'validation_error', payload)
  }
  const ok = await app.inject({ method: 'POST', url: '/auth/login', headers: FORM, payload: `username=alice&password=${encodeURIComponent(PASSWORD)}` })
  t.equal(ok.statusCode, 200, 'a plain form login still works')
})

t.test('a form-encoded array is its key once per item: one value is a one-item array, for array properties only', async (t) => {
  const { app, admin } = await buildWithAdmin(t)
  const password = encodeURIComponent(PASSWORD)
  const one = await as(app, admin.token)({ method: 'POST', url: '/admin/users', headers: FORM, payload: `username=dora&password=${password}&roles=admin` })
  t.equal(one.statusCode, 201, one.body)
  t.same(one.json().roles, ['user', 'admin'], 'roles=admin is ["admin"]')
  const two = await as(app, admin.token)({ method: 'POST', url: '/admin/users', headers: FORM, payload: `username=erin&password=${password}&roles=admin&roles=user` })
  t.equal(two.statusCode, 201, two.body)
  t.same([...two.json().roles].sort(), ['admin', 'user'], 'two values are two items')
  const patch = await as(app, admin.token)({ method: 'PATCH', url: `/admin/users/${one.json().id as string}`, headers: FORM, payload: 'roles=user' })
  t.equal(patch.statusCode, 200, patch.body)
  t.same(patch.json().roles, ['user'])

  const json = await as(app, admin.token)({ method: 'POST', url: '/admin/users', payload: { username: 'fay', password: PASSWORD, roles: 'admin' } })
  t.equal(json.statusCode, 400, 'JSON is validated as sent: a string is not an array')
  t.equal(json.json().error, 'validation_error')
  const scalar = await as(app, admin.token)({ method: 'POST', url: '/admin/users', headers: FORM, payload: `username=gus&username=gus&password=${password}` })
  t.equal(scalar.statusCode, 400, 'a string property given twice is still refused')
  t.equal(await app.users.findByUsernameKey('fay'), null)
  t.equal(await app.users.findByUsernameKey('gus'), null)
})

t.test('query strings and path parameters are still read from their text', async (t) => {
  const app = Fastify(serverOptions(loadConfig({ LOG_LEVEL: 'silent' })))
  t.teardown(() => app.close())
  app.post('/items/:id', {
    schema: {
      params: { type: 'object', properties: { id: { type: 'integer' } } },
      querystring: { type: 'object', properties: { limit: { type: 'integer' }, tag: { type: 'array', items: { type: 'string' } } } },
      body: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] }
    }
  }, async (request) => ({ params: request.params, query: request.query, body: request.body }))

  const ok = await app.inject({ method: 'POST', url: '/items/7?limit=5&tag=a', payload: { name: 'x' } })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { params: { id: 7 }, query: { limit: 5, tag: ['a'] }, body: { name: 'x' } })
  const strict = await app.inject({ method: 'POST', url: '/items/7', payload: { name: 5 } })
  t.equal(strict.statusCode, 400, 'the body is not coerced')
})

t.test('a bracketed form name the route does not read is ignored like any unknown name; on a name it reads it is refused', async (t) => {
  const app = await build(t)
  await register(app, 'alice')
  const unknown = await app.inject({ method: 'POST', url: '/auth/unlock', headers: FORM, payload: '=%60%03&%5Bs%C2%BB=true&other[$ne]=1&token=0' })
  t.equal(unknown.statusCode, 400)
  t.equal(unknown.json().error, 'invalid_token', 'read as a request with token=0')
  const known = await app.inject({ method: 'POST', url: '/auth/unlock', headers: FORM, payload: 'token[$ne]=x&token=0' })
  t.equal(known.statusCode, 400)
  t.equal(known.json().error, 'validation_error')
  const login = await app.inject({ method: 'POST', url: '/auth/login', headers: FORM, payload: `username=alice&password=${encodeURIComponent(PASSWORD)}&note[a]=b` })
  t.equal(login.statusCode, 200, 'a login with an unknown bracketed name goes through')
})
