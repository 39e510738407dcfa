import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { basic, build, bearer, signUp, PASSWORD } from '../helper'
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../../src/lib/password-policy'
import { USERNAME_MAX_LENGTH, USERNAME_MIN_LENGTH } from '../../src/lib/username'
import { EMAIL_MAX_LENGTH, EMAIL_PATTERN } from '../../src/lib/email'
import { as, buildWithAdmin, createUser } from '../admin'
import { listening, readEvents } from '../relying'

/**
 * What the API fuzz suite (test/fuzz/run.sh, Schemathesis) checks, held here case by case:
 * every answer the service gives is one its OpenAPI document declares, in the declared shape.
 */

interface Operation {
  parameters?: Array<{ in: string }>
  requestBody?: { required?: boolean, content: Record<string, unknown> }
  responses: Record<string, { content?: Record<string, unknown> }>
}

async function documentOf (app: FastifyInstance): Promise<Record<string, Record<string, Operation>>> {
  return (await app.inject({ url: '/docs/json' })).json().paths
}

t.test('an operation that validates its parameters or body documents the 400 it answers when they do not match', async (t) => {
  const app = await build(t)
  const paths = await documentOf(app)
  let validated = 0
  for (const [path, ops] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(ops)) {
      if ((op.parameters ?? []).length === 0 && op.requestBody === undefined) continue
      validated++
      t.ok(op.responses['400'], `${method.toUpperCase()} ${path} documents 400`)
    }
  }
  t.ok(validated > 10, 'found the operations with parameters or a body')

  const { tokens } = await signUp(app)
  const long = 'x'.repeat(65)
  const session = await app.inject({ method: 'DELETE', url: `/users/me/sessions/${long}`, headers: bearer(tokens.access_token) })
  t.equal(session.statusCode, 400)
  t.match(session.json(), { error: 'validation_error', message: String })
  const page = await app.inject({ url: `/auth/unlock?token=${'x'.repeat(257)}` })
  t.equal(page.statusCode, 400)
  t.match(page.json(), { error: 'validation_error', message: String })
})

t.test('errors of the routes that answer in another type are documented as JSON, as they are sent', async (t) => {
  const { app, admin } = await buildWithAdmin(t)
  const paths = await documentOf(app)
  const cases: Array<[string, string, string, string]> = [
    ['/admin/login-events/export', 'get', '/admin/login-events/export?username=', 'text/csv; charset=utf-8'],
    ['/auth/unlock', 'get', `/auth/unlock?token=${'x'.repeat(257)}`, 'text/html; charset=utf-8']
  ]
  for (const [path, method, url, success] of cases) {
    const op = paths[path][method]
    t.ok(op.responses['200'].content?.[success], `${path}: 200 in ${success}`)
    for (const status of ['400', '401', '403']) {
      if (op.responses[status] === undefined) continue
      t.same(Object.keys(op.responses[status].content ?? {}), ['application/json'], `${path}: ${status} in JSON`)
    }
    const res = await as(app, admin.token)({ url })
    t.equal(res.statusCode, 400, url)
    t.match(res.headers['content-type'], /^application\/json/, url)
    t.ok(op.responses['400'].content?.['application/json'], `${path}: the 400 it sends is documented`)
  }
})

t.test('a body the service lets a client leave out is optional in the document; one it needs is required', async (t) => {
  const { app, admin } = await buildWithAdmin(t)
  const paths = await documentOf(app)
  t.equal(paths['/auth/logout'].post.requestBody?.required, false, 'POST /auth/logout')
  t.equal(paths['/admin/users/{id}/lock'].post.requestBody?.required, false, 'POST /admin/users/{id}/lock')
  t.equal(paths['/auth/login'].post.requestBody?.required, true, 'POST /auth/login')
  t.notOk(JSON.stringify(paths).includes('x-optional-body'), 'the marker stays out of the document')

  const { tokens } = await signUp(app)
  const logout = await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(tokens.access_token) })
  t.equal(logout.statusCode, 204, 'a logout without a body')
  const id = await createUser(app, admin.token, 'bob')
  const lock = await as(app, admin.token)({ method: 'POST', url: `/admin/users/${id}/lock` })
  t.equal(lock.statusCode, 200, 'a lock without a body')
  const login = await app.inject({ method: 'POST', url: '/auth/login' })
  t.equal(login.statusCode, 400, 'a login without a body')
})

t.test('unknown body properties are ignored, and the document does not say they are refused', async (t) => {
  const app = await build(t)
  const paths = await documentOf(app)
  for (const [path, ops] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(ops)) {
      for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) {
        t.not((media as { schema: { additionalProperties?: unknown } }).schema.additionalProperties, false, `${method.toUpperCase()} ${path} ${type}`)
      }
    }
  }
  const res = await app.inject({ method: 'POST', url: '/auth/unlock/request', payload: { username: 'alice', extra: 1 } })
  t.equal(res.statusCode, 202, 'an unknown property is ignored')
})

t.test('a new password within the documented length is never refused for its length', async (t) => {
  const { app, admin } = await buildWithAdmin(t)
  const paths = await documentOf(app)
  const schemaOf = (path: string) => (paths[path].post.requestBody?.content['application/json'] as { schema: { properties: Record<string, { minLength: number, maxLength: number }> } }).schema.properties
  t.match(schemaOf('/auth/password').new_password, { minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH })
  t.match(schemaOf('/admin/users').password, { minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH })
  t.match(schemaOf('/admin/users').username, { minLength: USERNAME_MIN_LENGTH, maxLength: USERNAME_MAX_LENGTH })

  const { tokens } = await signUp(app)
  const long = await app.inject({ method: 'POST', url: '/auth/password', headers: bearer(tokens.access_token), payload: { current_password: PASSWORD, new_password: 'x'.repeat(PASSWORD_MAX_LENGTH + 1) } })
  t.equal(long.statusCode, 400)
  t.equal(long.json().error, 'validation_error', 'refused by the documented schema')
  const create = await as(app, admin.token)({ method: 'POST', url: '/admin/users', payload: { username: 'ab', password: PASSWORD } })
  t.equal(create.statusCode, 400)
  t.equal(create.json().error, 'validation_error', 'a username shorter than the rules allow, refused by the documented schema')
})

t.test('a path parameter far longer than its schema allows is a documented 400, not the router\'s 414', async (t) => {
  const { app, admin } = await buildWithAdmin(t)
  // The router refuses a parameter longer than maxParamLength (100 by default), counted once decoded.
  const id = encodeURIComponent('é'.repeat(300))
  const cases: Array<[string, string]> = [
    ['GET', `/admin/users/${id}`], ['DELETE', `/admin/users/${id}`], ['POST', `/admin/users/${id}/unlock`], ['POST', `/admin/users/${id}/lock`]
  ]
  for (const [method, url] of cases) {
    const res = await as(app, admin.token)({ method: method as 'GET', url })
    const label = `${method} ${url.replace(id, '<300 × é>')}`
    t.equal(res.statusCode, 400, label)
    t.equal(res.json().error, 'validation_error', label)
  }
})

t.test('an e-mail address is what the documented pattern says: one the schema admits is taken, one it refuses is a 400', async (t) => {
  const { app, admin } = await buildWithAdmin(t)
  const paths = await documentOf(app)
  type Props = Record<string, { pattern?: string, maxLength?: number, format?: string, anyOf?: Array<{ pattern?: string, maxLength?: number, nullable?: boolean }> }>
  const propsOf = (path: string, method: string, type: string) => (paths[path][method].requestBody?.content[type] as { schema: { properties: Props } }).schema.properties
  for (const [path, method] of [['/auth/register', 'post'], ['/admin/users', 'post'], ['/admin/users/{id}', 'patch']]) {
    for (const type of ['application/json', 'application/x-www-form-urlencoded']) {
      const email = propsOf(path, method, type).email
      const string = email.anyOf?.find((s) => s.nullable !== true) ?? email
      t.match(string, { pattern: EMAIL_PATTERN, maxLength: EMAIL_MAX_LENGTH }, `${method.toUpperCase()} ${path} ${type}`)
      t.notOk(JSON.stringify(email).includes('"format"'), `${method.toUpperCase()} ${path} ${type}: no format the validator reads its own way`)
    }
  }
  t.ok(propsOf('/admin/users/{id}', 'patch', 'application/json').email.anyOf?.some((s) => s.nullable === true), 'JSON may send null')
  t.notOk(propsOf('/admin/users/{id}', 'patch', 'application/x-www-form-urlencoded').email.anyOf, 'a form has no null to send')

  const pattern = new RegExp(EMAIL_PATTERN, 'u')
  const valid = ["o'brien+tag@mail.example.org", 'A.B-C@X-1.example', `${'a'.repeat(64)}@${'b'.repeat(63)}.example.com`, "0!#$%&'*+/=?^_`{|}~-@0.co"]
  const invalid = ['"quoted"@example.com', 'user@[192.0.2.1]', 'user@localhost', 'a..b@example.com', '.a@example.com', 'user@-example.com', 'jöhn@example.com', `a@${'b'.repeat(320)}.com`, 'null']
  for (const address of valid) t.ok(pattern.test(address) && address.length <= EMAIL_MAX_LENGTH, `schema-valid: ${address}`)
  const id = await createUser(app, admin.token, 'bob')
  for (const [i, address] of valid.entries()) {
    const patch = await as(app, admin.token)({ method: 'PATCH', url: `/admin/users/${id}`, payload: { email: address } })
    t.equal(patch.statusCode, 200, `PATCH ${address}`)
    t.equal(patch.json().email, address)
    const register = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: `mail-${i}`, password: PASSWORD, email: address } })
    t.equal(register.statusCode, 201, `register ${address}`)
  }
  const form = await as(app, admin.token)({ method: 'POST', url: '/admin/users', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `username=formed&password=${encodeURIComponent(PASSWORD)}&email=${encodeURIComponent(valid[0])}` })
  t.equal(form.statusCode, 201, 'a form-encoded address')
  for (const address of invalid) {
    t.notOk(pattern.test(address) && address.length <= EMAIL_MAX_LENGTH, `schema-invalid: ${address}`)
    const patch = await as(app, admin.token)({ method: 'PATCH', url: `/admin/users/${id}`, payload: { email: address } })
    t.equal(patch.statusCode, 400, `PATCH ${address}`)
    t.equal(patch.json().error, 'validation_error')
    const create = await as(app, admin.token)({ method: 'POST', url: '/admin/users', payload: { username: 'carol', password: PASSWORD, email: address } })
    t.equal(create.statusCode, 400, `POST /admin/users ${address}`)
  }
  const nulled = await as(app, admin.token)({ method: 'PATCH', url: `/admin/users/${id}`, payload: { email: null } })
  t.equal(nulled.statusCode, 200, 'JSON null removes the address')
  t.equal(nulled.json().email, null)
  const text = await as(app, admin.token)({ method: 'PATCH', url: `/admin/users/${id}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'email=null' })
  t.equal(text.statusCode, 400, 'a form sends the text "null", not an address')
})

t.test('a page size with a default is an optional query parameter, and a request without it is answered', async (t) => {
  const { app, admin } = await buildWithAdmin(t)
  const paths = await documentOf(app)
  const limit = (paths['/admin/users'].get.parameters as Array<{ in: string, name: string, required?: boolean }>).find((p) => p.in === 'query' && p.name === 'limit')
  t.ok(limit, 'limit is documented')
  t.notOk(limit?.required, 'and optional')
  const res = await as(app, admin.token)({ url: '/admin/users' })
  t.equal(res.statusCode, 200)
})

t.test('the revocation feed documents each of its events, and the events it sends match', async (t) => {
  const w = await listening(t)
  const doc = (await w.app.inject({ url: '/docs/json' })).json()
  const schema = doc.paths['/oauth/revocations'].get.responses['200'].content['text/event-stream'].schema
  t.equal(schema.type, 'object', 'one event, as an SSE parser gives it')
  for (const status of ['401', '503']) {
    t.same(Object.keys(doc.paths['/oauth/revocations'].get.responses[status].content), ['application/json'], `${status} in JSON, as it is sent`)
  }
  t.same([...schema.required].sort(), ['data', 'event'])
  t.equal(schema.properties.data.type, 'string')
  t.equal(schema.properties.id.type, 'string')
  const names = (schema.properties.event.anyOf as Array<{ enum?: string[], const?: string }>).flatMap((s) => s.enum ?? [s.const])
  t.same(names, ['snapshot', 'resumed', 'change'])
  const { user } = await signUp(w.app)
  const { events } = await readEvents(`${w.url}/oauth/revocations`, basic(w.client.client_id, w.client.client_secret), (events) => {
    if (events.length === 1) void w.app.accountState.lock(user.id, { reason: 'admin' })
    return events.some((e) => e.event === 'change')
  })
  t.same(events.map((e) => e.event).slice(0, 2), ['snapshot', 'change'])
  for (const e of events) {
    t.ok(names.includes(e.event), `${e.event} is a documented event`)
    if (e.event === 'change') t.type(e.id, 'string', 'a change has its id')
  }
})

t.test('every operation that takes a body documents the 413 it answers to one over the limit', async (t) => {
  const app = await build(t)
  const paths = await documentOf(app)
  const { tokens } = await signUp(app)
  let bodies = 0
  for (const [path, ops] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(ops)) {
      if (op.requestBody === undefined) continue
      bodies++
      t.ok(op.responses['413'], `${method.toUpperCase()} ${path} documents 413`)
    }
  }
  t.ok(bodies > 10, 'found the operations with a body')
  const res = await app.inject({ method: 'POST', url: '/oauth/revoke', headers: { ...bearer(tokens.access_token), 'content-type': 'application/json' }, payload: JSON.stringify({ token: 'x'.repeat(70 * 1024) }) })
  t.equal(res.statusCode, 413)
  t.same(res.json(), { error: 'payload_too_large', message: 'Request body is too large' })
})
