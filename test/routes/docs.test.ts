import t from 'tap'
import { build } from '../helper'

t.test('the OpenAPI document lists every route with its schemas', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/docs/json' })
  t.equal(res.statusCode, 200)
  const doc = res.json()
  t.match(doc.openapi, /^3\./)

  // Every route the app serves (top level of the route tree), except the docs themselves.
  const served: Array<[string, string]> = []
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^[├└]── (\/\S*) \(([A-Z, ]+)\)/.exec(line)
    if (m === null || m[1] === '/docs') continue
    for (const method of m[2].split(', ')) if (method !== 'HEAD') served.push([m[1], method.toLowerCase()])
  }
  t.ok(served.length >= 7, 'found the served routes')
  for (const [path, method] of served) {
    t.ok(doc.paths[path]?.[method], `${method.toUpperCase()} ${path} is documented`)
  }
  for (const [path, ops] of Object.entries<Record<string, { responses: Record<string, unknown> }>>(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      t.ok(Object.keys(op.responses).length > 0, `${method.toUpperCase()} ${path} declares its responses`)
    }
  }
  t.same(doc.paths['/users/me'].get.security, [{ bearerAuth: [] }])
  t.ok(doc.paths['/auth/login'].post.responses['401'], 'error responses are documented')
})

t.test('the documentation UI is served at /docs', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/docs/' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /text\/html/)
})
