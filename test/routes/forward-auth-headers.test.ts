import t from 'tap'
import Fastify from 'fastify'
import errorHandler from '../../plugins/error-handler'
import { build, signUp, forge } from '../helper'
import { listen, rawRequest } from '../socket'

function verifyRequest (token: string): string {
  return `GET /auth/verify HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n\r\n`
}

const ASCII = /^[\x21-\x7e]*$/

t.test('any username round-trips through X-Auth-Username (percent-encoded UTF-8; ASCII unchanged)', async (t) => {
  const app = await build(t)
  const port = await listen(app)
  const names = ['用户名abc', 'Дмитрий', 'jürgen', 'たなか太郎', 'नमस्ते', 'محمد', 'alice', 'bob@example.com', 'a+b_c.d-e']
  for (const name of names) {
    const { user, tokens } = await signUp(app, name)
    const res = await rawRequest(port, verifyRequest(tokens.access_token))
    t.equal(res.status, 204, name)
    t.match(res.head, /^[\x20-\x7e\r\n]*$/, `${name}: the header block is plain ASCII`)
    const header = res.headers['x-auth-username']
    t.ok(ASCII.test(header), `${name}: ${header}`)
    t.equal(decodeURIComponent(header), name, `${name} decodes back`)
    t.equal(res.headers['x-auth-user-id'], user.id)
    t.equal(res.headers['x-auth-roles'], 'user')
  }
  const plain = await signUp(app, 'carol.o+1@ex-ample')
  const res = await rawRequest(port, verifyRequest(plain.tokens.access_token))
  t.equal(res.headers['x-auth-username'], 'carol.o+1@ex-ample', 'ASCII usernames are sent as they are')
})

t.test('every header carrying token data is encoded, whatever the token says', async (t) => {
  const app = await build(t)
  const port = await listen(app)
  const claims = {
    sub: 'id\r\nX-Injected: 1',
    preferred_username: 'Ωmega\r\nSet-Cookie: a=b',
    roles: ['user', 'ops team', 'café,bar', 'Ω', 'x\ny', '%41']
  }
  const token = await forge(app, claims)
  const res = await rawRequest(port, verifyRequest(token))
  t.equal(res.status, 204)
  t.notOk(res.headers['x-injected'], 'no header injection')
  t.notOk(res.headers['set-cookie'], 'no header injection')
  for (const name of ['x-auth-user-id', 'x-auth-username', 'x-auth-roles']) t.ok(ASCII.test(res.headers[name]), `${name}: ${res.headers[name]}`)
  t.equal(decodeURIComponent(res.headers['x-auth-user-id']), claims.sub)
  t.equal(decodeURIComponent(res.headers['x-auth-username']), claims.preferred_username)
  t.same(res.headers['x-auth-roles'].split(',').map(decodeURIComponent), claims.roles, 'roles: comma-separated, each one encoded')
})

t.test('a header Node refuses never leaves a response without a body or a connection hanging', async (t) => {
  const app = Fastify()
  await app.register(errorHandler)
  app.get('/bad-header', (request, reply) => { reply.header('x-user-data', 'Дмитрий').code(204).send() })
  app.get('/bad-header-async', async (request, reply) => { reply.header('x-user-data', 'a\r\nb'); return { ok: true } })
  t.teardown(() => app.close())
  const port = await listen(app)
  for (const url of ['/bad-header', '/bad-header-async']) {
    const res = await rawRequest(port, `GET ${url} HTTP/1.1\r\nHost: localhost\r\n\r\n`, { limitMs: 3000 })
    t.equal(res.timedOut, false, `${url}: the response is complete`)
    t.equal(res.status, 500, url)
    t.same(JSON.parse(res.body), { error: 'internal_error', message: 'Internal server error' }, url)
    t.notOk(res.headers['x-user-data'], url)
  }
})
