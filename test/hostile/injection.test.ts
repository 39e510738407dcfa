import t, { type Test } from 'tap'
import { login, PASSWORD } from '../helper'
import { account, buildWorld, encodePairs, eventsWritten, FORM, JSON_TYPE, label, operations, prototypeState, refused, send, snapshot, validRequest, withQuery, type Operation, type World } from './world'

/** Query operators as JSON values: each stands where a field's string (or array of strings) belongs. */
const OPERATORS: unknown[] = [
  { $ne: null },
  { $gt: '' },
  { $where: 'function () { return true }' },
  { $expr: { $eq: [1, 1] } },
  { $nor: [{ username: 'nobody' }] },
  { $regex: '.*' },
  { $regex: '^a', $options: 'i' },
  { $in: ['alice', 'root'] },
  { $exists: true },
  [{ $ne: null }],
  [{ $regex: '.*' }, 'user']
]

/** A body form-encoded as OpenAPI's form style does it (an array is its key once per item). */
function formOf (body: Record<string, unknown>, skip: string[] = []): string[] {
  const pairs: string[] = []
  for (const [name, value] of Object.entries(body)) {
    if (skip.includes(name) || value === undefined) continue
    for (const item of Array.isArray(value) ? value : [value]) pairs.push(`${encodeURIComponent(name)}=${encodeURIComponent(String(item))}`)
  }
  return pairs
}

/** The form-encoded ways of turning a field into an object or array: each pair list replaces the field. */
function formShapes (op: Operation, name: string, valid: unknown): Array<[string, string[]]> {
  const plain = `${name}=${encodeURIComponent(String(Array.isArray(valid) ? valid[0] : valid))}`
  const shapes: Array<[string, string[]]> = [
    ['bracket operator', [`${name}[$ne]=x`]],
    ['bracket regex', [`${name}[$regex]=.*`]],
    ['encoded brackets', [`${name}%5B%24gt%5D=`]],
    ['empty brackets', [`${name}[]=alice`, `${name}[]=root`]],
    ['index brackets', [`${name}[0]=alice`]],
    ['plain and bracket', [plain, `${name}[$ne]=x`]],
    ['bracket and plain', [`${name}[$ne]=x`, plain]],
    ['nested brackets', [`${name}[$not][$eq]=x`]]
  ]
  if (!op.arrays.includes(name)) shapes.push(['given twice', [plain, plain]])
  return shapes
}

async function assertUntouched (t: Test, world: World, before: Record<string, string>, what: string) {
  t.same(await snapshot(world.app), before, `${what}: nothing stored changed`)
  const tokens = await login(world.app, 'alice', PASSWORD)
  t.ok(tokens.access_token, `${what}: alice still logs in with her password`)
}

t.test('operators in bodies', async (t) => {
  const world = await buildWorld(t)
  const ops = (await operations(world.app)).filter((op) => op.body.length > 0)
  t.ok(ops.length >= 12, `${ops.length} operations take a body`)

  t.test('an operator object in any JSON field is 400 validation_error and changes nothing', async (t) => {
    const before = await snapshot(world.app)
    for (const op of ops) {
      for (const field of op.body) {
        for (const operator of OPERATORS) {
          const { url, headers, query, body } = validRequest(world, op)
          const res = await send(world.app, op, { url: withQuery(url, encodePairs(query)), headers, payload: { ...body, [field]: operator } })
          refused(t, res, `${label(op)} ${field}=${JSON.stringify(operator)}`, [400], 'validation_error')
        }
      }
    }
    await assertUntouched(t, world, before, 'operators in JSON')
  })

  t.test('a form field in bracket, array or repeated form is 400 validation_error and changes nothing', async (t) => {
    const before = await snapshot(world.app)
    for (const op of ops) {
      for (const field of op.body) {
        const { url, headers, query, body = {} } = validRequest(world, op)
        for (const [shape, pairs] of formShapes(op, field, body[field])) {
          const payload = [...formOf(body, [field]), ...pairs].join('&')
          const res = await send(world.app, op, { url: withQuery(url, encodePairs(query)), headers: { ...headers, ...FORM }, payload })
          refused(t, res, `${label(op)} form ${shape}: ${pairs.join('&')}`, [400], 'validation_error')
        }
      }
    }
    await assertUntouched(t, world, before, 'form shapes')
  })
})

t.test('every valid request the attacks start from is answered as a success', async (t) => {
  // Each attack below changes one part of one of these requests: that nothing changed afterwards
  // means the attack was refused, not that the request could never have done anything.
  const world = await buildWorld(t)
  const ops = await operations(world.app)
  // These end or spend what the others use: each gets an account of its own.
  const ending = ['POST /auth/logout', 'POST /auth/logout-all', 'POST /auth/password', 'POST /oauth/revoke', 'POST /admin/users/{id}/lock', 'DELETE /admin/users/{id}']
  for (const [i, op] of ops.entries()) {
    const own = ending.includes(label(op)) ? { ...world, alice: await account(world.app, `user${i}`) } : world
    const { url, headers, query, body } = validRequest(own, op)
    const res = await send(world.app, op, { url: withQuery(url, encodePairs(query)), headers, payload: body })
    if (op.template === '/auth/unlock' && op.method === 'POST') refused(t, res, `${label(op)}: a well-formed unknown token`, [400], 'invalid_token')
    else t.ok(res.statusCode >= 200 && res.statusCode < 300, `${label(op)}: ${res.statusCode}${res.statusCode < 300 ? '' : ` ${res.body.slice(0, 200)}`}`)
  }
})

t.test('operators in query strings and paths', async (t) => {
  const world = await buildWorld(t)
  const all = await operations(world.app)

  t.test('a query parameter in bracket, array or repeated form is 400 validation_error', async (t) => {
    const ops = all.filter((op) => op.query.length > 0)
    t.ok(ops.length >= 5, `${ops.length} operations take a query string`)
    const before = await snapshot(world.app)
    for (const op of ops) {
      const { url, headers, query } = validRequest(world, op)
      const ok = await send(world.app, op, { url: withQuery(url, encodePairs(query)), headers })
      t.equal(ok.statusCode, 200, `${label(op)}: the valid query is answered`)
      for (const param of op.query) {
        const rest = encodePairs(Object.fromEntries(Object.entries(query).filter(([k]) => k !== param)))
        const plain = `${param}=${encodeURIComponent(query[param] ?? 'x')}`
        const shapes: Array<[string, string[]]> = [
          ['bracket operator', [`${param}[$ne]=x`]],
          ['bracket gt', [`${param}[$gt]=`]],
          ['bracket regex', [`${param}[$regex]=.*`]],
          ['encoded brackets', [`${param}%5B%24ne%5D=x`]],
          ['empty brackets', [`${param}[]=a`, `${param}[]=b`]],
          ['plain and bracket', [plain, `${param}[$ne]=x`]],
          ['given twice', [plain, plain]]
        ]
        for (const [shape, pairs] of shapes) {
          const res = await send(world.app, op, { url: withQuery(url, [...rest, ...pairs]), headers })
          refused(t, res, `${label(op)} query ${shape}: ${pairs.join('&')}`, [400], 'validation_error')
        }
      }
    }
    t.same(await snapshot(world.app), before, 'nothing stored changed')
  })

  t.test('operator text in a path parameter is an unknown id: 404, nothing changes', async (t) => {
    const ops = all.filter((op) => op.path.length > 0)
    t.ok(ops.length >= 6, `${ops.length} operations take a path parameter`)
    const ids = ['{"$ne":null}', '{"$gt":""}', '[$ne]', '$ne', '$where', '.*', '^', '[object Object]', 'null', 'undefined', '0',
      '-1', `${world.alice.id}|${world.admin.id}`, `${world.alice.id}\u0000`, `${world.alice.id} `, world.alice.id.toUpperCase().replace(/[0-9]/g, 'G')]
    const before = await snapshot(world.app)
    for (const op of ops) {
      for (const id of ids) {
        const { url, headers, query, body } = validRequest(world, op, encodeURIComponent(id))
        const res = await send(world.app, op, { url: withQuery(url, encodePairs(query)), headers, payload: body })
        refused(t, res, `${label(op)} id=${JSON.stringify(id)}`, [400, 404], /^(not_found|validation_error)$/)
      }
    }
    t.same(await snapshot(world.app), before, 'nothing stored changed')
  })
})

t.test('operator text in a string field is data: matched literally, never as a query', async (t) => {
  // Out of the throttle's and the lockout's reach: each wrong password must reach the password check.
  const world = await buildWorld(t, { THROTTLE_THRESHOLD: '1000', LOCKOUT_THRESHOLD: '1000' })
  const { app } = world
  const admin = { authorization: `Bearer ${world.admin.token}` }
  const texts = ['{"$ne":null}', '{"$gt":""}', '$ne', '.*', '^alice', 'alice|root', "' || '1'=='1", 'this.password.length > 0']
  for (const text of texts) {
    const password = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'alice', password: text } })
    refused(t, password, `login password ${text}`, [401], 'invalid_credentials')
    const username = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: text.padEnd(3, '.'), password: PASSWORD } })
    refused(t, username, `login username ${text}`, [401], 'invalid_credentials')
    const refresh = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: text } })
    refused(t, refresh, `refresh ${text}`, [401], 'invalid_grant')
    const unlock = await app.inject({ method: 'POST', url: '/auth/unlock', payload: { token: text } })
    refused(t, unlock, `unlock ${text}`, [400], 'invalid_token')
    const users = await app.inject({ url: `/admin/users?q=${encodeURIComponent(text)}`, headers: admin })
    t.same(users.json().items, [], `admin search q=${text}: no account matches the text`)
    const events = await app.inject({ url: `/admin/login-events?username=${encodeURIComponent(text)}`, headers: admin })
    t.equal(events.statusCode, 200)
    t.ok(events.json().items.every((e: { username: string }) => e.username === text.padEnd(3, '.') || e.username === text), `events username=${text}: only events of that exact text`)
  }
  await eventsWritten(app)
  // Every failed attempt was recorded, with the name exactly as presented.
  for (const text of texts) {
    const presented = text.padEnd(3, '.')
    const recorded = await app.loginEvents.find({ username: presented })
    t.ok(recorded.some((e) => e.type === 'login' && e.outcome === 'failure' && e.reason === 'unknown_user'), `a failure event for ${presented}`)
  }
  const bad = await app.loginEvents.find({ userId: world.alice.id })
  t.equal(bad.filter((e) => e.type === 'login' && e.reason === 'bad_password').length, texts.length, 'one bad_password event per wrong password')
  const me = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${world.alice.tokens.access_token}` } })
  t.equal(me.statusCode, 200, 'the session of the refresh tokens tried is still live')
})

/** JSON text with `key: value` written first, as a client would send it (an object literal cannot hold "__proto__"). */
const jsonWith = (key: string, value: string, body: Record<string, unknown> = {}) => {
  const rest = JSON.stringify(body).slice(1)
  return `{${JSON.stringify(key)}:${value}${rest === '}' ? '}' : `,${rest}`}`
}

t.test('__proto__, constructor and prototype keys are refused in bodies and query strings; nothing is polluted', async (t) => {
  const world = await buildWorld(t)
  const ops = await operations(world.app)
  const pollution = prototypeState()
  const before = await snapshot(world.app)
  const jsonKeys: Array<[string, string]> = [
    ['__proto__', '{"polluted":"yes","admin":true}'],
    ['__proto__', '"yes"'],
    ['constructor', '{"prototype":{"polluted":"yes"}}'],
    ['constructor', '"yes"'],
    ['prototype', '{"polluted":"yes"}']
  ]
  const flatKeys = ['__proto__[polluted]=yes', '__proto__=yes', '%5F%5Fproto%5F%5F[polluted]=yes', 'constructor[prototype][polluted]=yes',
    'constructor=yes', 'prototype[polluted]=yes', 'prototype=yes', '__proto__.polluted=yes']
  for (const op of ops) {
    const { url, headers, query, body } = validRequest(world, op)
    if (body !== undefined) {
      for (const [key, value] of jsonKeys) {
        const res = await send(world.app, op, { url: withQuery(url, encodePairs(query)), headers: { ...headers, ...JSON_TYPE }, payload: jsonWith(key, value, body) })
        refused(t, res, `${label(op)} JSON ${key}: ${value}`, [400], 'bad_request')
      }
      // ...and one level down, in a field
      const [field] = op.body
      const nested = JSON.stringify(body).replace(`"${field}":`, `"${field}":${jsonWith('__proto__', '{"polluted":"yes"}')},"ignored":`)
      const res = await send(world.app, op, { url: withQuery(url, encodePairs(query)), headers: { ...headers, ...JSON_TYPE }, payload: nested })
      refused(t, res, `${label(op)} JSON ${field}.__proto__`, [400], 'bad_request')
      for (const pair of flatKeys) {
        const form = await send(world.app, op, { url: withQuery(url, encodePairs(query)), headers: { ...headers, ...FORM }, payload: [...formOf(body), pair].join('&') })
        refused(t, form, `${label(op)} form ${pair}`, [400], 'bad_request')
      }
    }
    if (op.query.length > 0) {
      for (const pair of flatKeys) {
        const res = await send(world.app, op, { url: withQuery(url, [...encodePairs(query), pair]), headers, payload: body })
        refused(t, res, `${label(op)} query ${pair}`, [400], 'bad_request')
      }
    }
  }
  t.equal(prototypeState(), pollution, 'Object.prototype is as it was')
  await assertUntouched(t, world, before, 'prototype keys')
})
