import t from 'tap'
import { build } from '../helper'
import { loadConfig } from '../../src/config'

t.test('the documentation pages carry browser security headers', async (t) => {
  const app = await build(t)
  for (const url of ['/docs', '/docs/', '/docs/static/swagger-initializer.js', '/docs/json']) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 200, url)
    const csp = String(res.headers['content-security-policy'])
    t.match(csp, /default-src 'self'/, `${url} CSP`)
    t.match(csp, /script-src 'self'(;|$)/, `${url} no inline or remote scripts`)
    t.match(csp, /frame-ancestors 'none'/, `${url} cannot be framed`)
    t.match(csp, /object-src 'none'/, url)
    t.equal(res.headers['x-frame-options'], 'DENY', url)
    t.equal(res.headers['x-content-type-options'], 'nosniff', url)
    t.equal(res.headers['referrer-policy'], 'no-referrer', url)
  }
})

t.test('the JSON API is not given a CSP, but nosniff is everywhere', async (t) => {
  const app = await build(t)
  for (const [url, status] of [['/health/live', 200], ['/.well-known/jwks.json', 200], ['/users/me', 401], ['/nope', 404]] as const) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, status, url)
    t.equal(res.headers['x-content-type-options'], 'nosniff', url)
    t.notOk(res.headers['content-security-policy'], url)
  }
})

t.test('DOCS=off removes the documentation: 404', async (t) => {
  const app = await build(t, { DOCS: 'off' })
  for (const url of ['/docs', '/docs/', '/docs/json', '/docs/static/index.html']) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 404, url)
    t.equal(res.json().error, 'not_found', url)
  }
  t.equal((await app.inject({ url: '/health/live' })).statusCode, 200, 'the API is unaffected')
})

t.test('DOCS is on or off', async (t) => {
  t.equal(loadConfig({}).docs, true)
  t.equal(loadConfig({ DOCS: 'off' }).docs, false)
  t.equal(loadConfig({ DOCS: 'on' }).docs, true)
  t.throws(() => loadConfig({ DOCS: 'maybe' }), /^DOCS .*on, off/)
})
