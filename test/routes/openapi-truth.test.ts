import t from 'tap'
import { build } from '../helper'
import { USERNAME_MAX_LENGTH, USERNAME_MIN_LENGTH } from '../../src/lib/username'

interface Operation {
  requestBody?: { content: Record<string, { schema: { properties: Record<string, { minLength?: number, maxLength?: number }> } }> }
}

t.test('the OpenAPI document states the username bounds the rules enforce', async (t) => {
  const app = await build(t)
  const doc = (await app.inject({ url: '/docs/json' })).json()
  for (const path of ['/auth/register', '/auth/login']) {
    const op: Operation = doc.paths[path].post
    for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) {
      t.equal(media.schema.properties.username.minLength, USERNAME_MIN_LENGTH, `${path} ${type} minLength`)
      t.equal(media.schema.properties.username.maxLength, USERNAME_MAX_LENGTH, `${path} ${type} maxLength`)
    }
  }
  t.equal(USERNAME_MIN_LENGTH, 3)
  t.equal(USERNAME_MAX_LENGTH, 64)
})

t.test('every request body is documented in both content types the service accepts', async (t) => {
  const app = await build(t)
  const doc = (await app.inject({ url: '/docs/json' })).json()
  let bodies = 0
  for (const [path, ops] of Object.entries<Record<string, Operation>>(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      if (op.requestBody === undefined) continue
      bodies++
      t.same(Object.keys(op.requestBody.content).sort(), ['application/json', 'application/x-www-form-urlencoded'], `${method.toUpperCase()} ${path}`)
    }
  }
  t.ok(bodies >= 2, 'found the routes with a body')
})

t.test('a username outside the documented bounds is refused by the schema', async (t) => {
  const app = await build(t)
  for (const username of ['ab', 'x'.repeat(USERNAME_MAX_LENGTH + 1)]) {
    for (const url of ['/auth/register', '/auth/login']) {
      const res = await app.inject({ method: 'POST', url, payload: { username, password: 'correct horse battery staple' } })
      t.equal(res.statusCode, 400, `${url} ${username.length}`)
    }
  }
})
