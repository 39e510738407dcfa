import t from 'tap'
import { build } from '../helper'
import { listen, rawRequest } from '../socket'

const CONTRACT = { error: String, message: String }

function json (body: string): Record<string, unknown> {
  try {
    return JSON.parse(body)
  } catch {
    return { unparsable: body }
  }
}

t.test('errors raised before the route answer in the contract shape', async (t) => {
  const app = await build(t)
  const port = await listen(app)
  const cases: Array<[string, string, number, string]> = [
    ['headers too large', `GET /health/live HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'header_too_large'],
    ['a malformed header line', 'GET /health/live HTTP/1.1\r\nHost: localhost\r\nNot a header\r\n\r\n', 400, 'bad_request'],
    ['a malformed request line', 'GET /health/live HTTP/9\r\nHost: localhost\r\n\r\n', 400, 'bad_request'],
    ['no Host header (HTTP/1.1)', 'GET /health/live HTTP/1.1\r\n\r\n', 400, 'bad_request'],
    ['two Host headers', 'GET /health/live HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n', 400, 'bad_request'],
    ['an invalid percent-encoding in the path', 'GET /auth/%zz HTTP/1.1\r\nHost: localhost\r\n\r\n', 400, 'bad_request']
  ]
  for (const [name, request, status, code] of cases) {
    const res = await rawRequest(port, request)
    t.equal(res.status, status, name)
    t.match(res.headers['content-type'], /^application\/json/, name)
    t.match(json(res.body), { ...CONTRACT, error: code }, name)
    t.equal(res.timedOut, false, `${name}: the connection does not hang`)
  }
  const host = await rawRequest(port, 'GET /health/live HTTP/1.1\r\n\r\n')
  t.match(json(host.body).message, /Host/)
  const old = await rawRequest(port, 'GET /health/live HTTP/1.0\r\n\r\n')
  t.equal(old.status, 200, 'HTTP/1.0 needs no Host header')
})

t.test('a body in a content type other than JSON or form-encoded: 415 unsupported_media_type', async (t) => {
  const app = await build(t)
  for (const type of ['text/plain', 'text/plain; charset=utf-8', 'application/xml', 'multipart/form-data; boundary=x', 'application/octet-stream']) {
    const res = await app.inject({ method: 'POST', url: '/auth/login', headers: { 'content-type': type }, payload: 'username=alice&password=secret' })
    t.equal(res.statusCode, 415, type)
    t.match(res.json(), { error: 'unsupported_media_type', message: String }, type)
  }
  const untyped = await app.inject({ method: 'POST', url: '/auth/login', payload: 'username=alice&password=secret', headers: { 'content-type': '' } })
  t.equal(untyped.statusCode, 415, 'no content type')
})

t.test('a known path with a method it does not serve: 405 with Allow; an unknown path: 404', async (t) => {
  const app = await build(t)
  const cases: Array<[string, string, string]> = [
    ['TRACE', '/auth/login', 'POST'],
    ['GET', '/auth/login', 'POST'],
    ['DELETE', '/users/me', 'GET, HEAD'],
    ['OPTIONS', '/auth/verify', 'GET, HEAD'],
    ['PUT', '/.well-known/jwks.json', 'GET, HEAD'],
    ['TRACE', '/health/live?probe=1', 'GET, HEAD'],
    ['POST', '/docs/json', 'GET, HEAD']
  ]
  for (const [method, url, allow] of cases) {
    const res = await app.inject({ method: method as 'GET', url })
    t.equal(res.statusCode, 405, `${method} ${url}`)
    t.equal(res.headers.allow, allow, `${method} ${url}`)
    t.same(res.json(), { error: 'method_not_allowed', message: `Method ${method} is not allowed on ${url.split('?')[0]}` })
  }
  const port = await listen(app)
  const query = await rawRequest(port, 'QUERY /health/ready HTTP/1.1\r\nHost: localhost\r\n\r\n')
  t.equal(query.status, 405, 'a method with a body and no Content-Type is still 405, not a body error')
  t.equal(query.headers.allow, 'GET, HEAD')
  const body = await app.inject({ method: 'DELETE', url: '/no/such/path', headers: { 'content-type': 'text/plain' }, payload: 'x' })
  t.equal(body.statusCode, 404, 'an unknown path is 404 whatever its body')
  for (const method of ['TRACE', 'GET', 'DELETE']) {
    const res = await app.inject({ method: method as 'GET', url: '/no/such/path' })
    t.equal(res.statusCode, 404, method)
    t.equal(res.json().error, 'not_found')
    t.notOk(res.headers.allow)
  }
})
