import t from 'tap'
import { build, signUp } from '../helper'
import { listen, rawRequest } from '../socket'

const ROUTES = ['/auth/verify', '/users/me']

t.test('one or more spaces after the scheme, in any case (RFC 6750 "Bearer" 1*SP b64token)', async (t) => {
  const app = await build(t)
  const { tokens } = await signUp(app)
  for (const scheme of ['Bearer ', 'Bearer  ', 'bearer  ', 'BEARER   ', 'bEaReR ']) {
    const res = await app.inject({ url: '/auth/verify', headers: { authorization: `${scheme}${tokens.access_token}` } })
    t.equal(res.statusCode, 204, JSON.stringify(scheme))
  }
})

t.test('two Authorization headers are ambiguous: 401 invalid_token, whichever comes first', async (t) => {
  const app = await build(t)
  const { tokens } = await signUp(app)
  const port = await listen(app)
  const valid = `Bearer ${tokens.access_token}`
  const pairs = [[valid, 'Bearer forged.token.value'], ['Bearer forged.token.value', valid], [valid, valid], [valid, 'Basic YWxpY2U6cHc='], ['Basic YWxpY2U6cHc=', valid]]
  for (const url of ROUTES) {
    for (const [first, second] of pairs) {
      const res = await rawRequest(port, `GET ${url} HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${first}\r\nauthorization: ${second}\r\n\r\n`)
      t.equal(res.status, 401, `${url} ${first.slice(0, 12)} + ${second.slice(0, 12)}`)
      t.equal(JSON.parse(res.body).error, 'invalid_token')
      t.match(JSON.parse(res.body).message, /exactly one Authorization header/)
      t.match(res.headers['www-authenticate'], /^Bearer realm="warden", error="invalid_token"/)
      t.notOk(res.headers['x-auth-user-id'], 'no identity is vouched for')
    }
    const single = await rawRequest(port, `GET ${url} HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${valid}\r\nX-Other: 1\r\nX-Other: 2\r\n\r\n`)
    t.ok(single.status === 200 || single.status === 204, `${url}: one Authorization header still passes`)
  }
})
