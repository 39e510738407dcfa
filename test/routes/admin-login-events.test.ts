import t from 'tap'
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { build, register, login, bearer, PASSWORD } from '../helper'
import { localOrigin } from '../../src/lib/origin'

async function admin (app: FastifyInstance): Promise<string> {
  await app.registration.create({ username: 'root', password: PASSWORD, roles: ['user', 'admin'] }, localOrigin('test'))
  return (await login(app, 'root')).access_token
}

t.test('only administrators may search or export', async (t) => {
  const app = await build(t)
  await register(app)
  const user = await login(app)
  for (const url of ['/admin/login-events', '/admin/login-events/export']) {
    const anonymous = await app.inject({ url })
    t.equal(anonymous.statusCode, 401)
    const res = await app.inject({ url, headers: bearer(user.access_token) })
    t.equal(res.statusCode, 403)
    t.equal(res.json().error, 'forbidden')
  }
})

t.test('filters combine; pages follow the cursor', async (t) => {
  const app = await build(t, { TRUST_PROXY: 'true' })
  const token = await admin(app)
  const alice = await register(app, 'alice')
  await register(app, 'bob')
  const attempt = (username: string, password: string, ip: string) =>
    app.inject({ method: 'POST', url: '/auth/login', headers: { 'x-forwarded-for': ip }, payload: { username, password } })
  await attempt('alice', 'wrong-password-1', '203.0.113.5')
  await attempt('alice', PASSWORD, '203.0.113.5')
  await attempt('bob', 'wrong-password-2', '203.0.113.6')
  await attempt('ghost', 'wrong-password-3', '203.0.113.5')

  const get = async (query: string) => {
    const res = await app.inject({ url: `/admin/login-events?${query}`, headers: bearer(token) })
    t.equal(res.statusCode, 200, query)
    return res.json<{ items: Array<Record<string, unknown>>, next_cursor: string | null }>()
  }
  t.same((await get(`user_id=${alice.id}`)).items.map((e) => `${e.type}/${e.outcome}`), ['login/success', 'login/failure', 'register/success'])
  t.same((await get('username=ghost')).items.map((e) => e.reason), ['unknown_user'])
  t.same((await get('ip=203.0.113.5&outcome=failure')).items.map((e) => e.username), ['ghost', 'alice'])
  t.equal((await get('type=register')).items.length, 3)
  const future = new Date(Date.now() + 60_000).toISOString()
  t.equal((await get(`from=${encodeURIComponent(future)}`)).items.length, 0)
  t.equal((await get(`to=${encodeURIComponent(future)}&type=login`)).items.length, 5, 'the admin login of the set-up, and four attempts')

  const first = await get('limit=3')
  t.equal(first.items.length, 3)
  t.type(first.next_cursor, 'string')
  const second = await get(`limit=3&cursor=${first.next_cursor}`)
  const all = await get('limit=200')
  t.same([...first.items, ...second.items].map((e) => e.id), all.items.slice(0, 6).map((e) => e.id))
})

t.test('bad filters are 400s with the contract shape', async (t) => {
  const app = await build(t)
  const token = await admin(app)
  for (const query of ['user_id=nope', 'type=coffee', 'outcome=maybe', 'from=yesterday', 'limit=1000', 'cursor=%7B%7D',
    `from=${new Date().toISOString()}&to=${new Date(Date.now() - 1000).toISOString()}`]) {
    const res = await app.inject({ url: `/admin/login-events?${query}`, headers: bearer(token) })
    t.equal(res.statusCode, 400, query)
    t.match(res.json(), { error: 'validation_error', message: String })
  }
  const format = await app.inject({ url: '/admin/login-events/export?format=xlsx', headers: bearer(token) })
  t.equal(format.statusCode, 400)
  // an operator where a value goes is only ever a value: it matches nothing
  const text = await app.inject({ url: `/admin/login-events?username=${encodeURIComponent('{"$ne":null}')}`, headers: bearer(token) })
  t.equal(text.statusCode, 200)
  t.same(text.json().items, [])
  // and bracket syntax is no syntax: refused rather than dropped
  const brackets = await app.inject({ url: '/admin/login-events?username[$ne]=x&username=nobody', headers: bearer(token) })
  t.equal(brackets.statusCode, 400)
  t.equal(brackets.json().error, 'validation_error')
})

t.test('export: NDJSON and CSV, every matching event, CSV escaped and safe to open in a spreadsheet', async (t) => {
  const app = await build(t)
  const token = await admin(app)
  const hostile = ['=HYPERLINK("http://evil.example","click")', '+1+2', '-2+3', '@SUM(A1)', 'comma, "quoted"\nnew line']
  for (const username of hostile) {
    await app.inject({ method: 'POST', url: '/auth/login', headers: { 'user-agent': '=cmd|/c calc' }, payload: { username, password: 'wrong-password' } })
  }

  const ndjson = await app.inject({ url: '/admin/login-events/export?type=login&outcome=failure', headers: bearer(token) })
  t.equal(ndjson.statusCode, 200)
  t.match(ndjson.headers['content-type'], /^application\/x-ndjson/)
  t.match(ndjson.headers['content-disposition'], /^attachment; filename="login-events-.*\.ndjson"$/)
  const lines = ndjson.body.trimEnd().split('\n').map((l) => JSON.parse(l))
  // newest first; in storage order (oldest first) where the server sorts without an index (FerretDB)
  t.same(lines.map((e) => e.username), app.loginEvents.ordered ? [...hostile].reverse() : hostile, 'every event, exactly as recorded')
  t.match(lines[0], { id: String, type: 'login', outcome: 'failure', reason: 'unknown_user', request_id: String })

  const csv = await app.inject({ url: '/admin/login-events/export?format=csv&type=login&outcome=failure', headers: bearer(token) })
  t.equal(csv.statusCode, 200)
  t.match(csv.headers['content-type'], /^text\/csv/)
  const text = csv.body
  t.ok(text.startsWith('id,type,outcome,reason,user_id,username,ip,user_agent,at,session_id,actor_id,request_id,new_device\r\n'))
  t.ok(text.includes(`,"'=HYPERLINK(""http://evil.example"",""click"")",`), 'formula neutralised, quotes doubled')
  t.ok(text.includes(",'+1+2,") && text.includes(",'-2+3,") && text.includes(",'@SUM(A1),"))
  t.ok(text.includes(',"comma, ""quoted""\nnew line",'), 'comma, quote and line break quoted')
  t.ok(text.includes(",'=cmd|/c calc,"), 'user agents too')
  // every record is one row: count rows by their id column
  t.equal(text.match(/\r\n[0-9a-f]{24},/g)?.length, hostile.length)
})

t.test('export of an empty selection is a header only', async (t) => {
  const app = await build(t)
  const token = await admin(app)
  const csv = await app.inject({ url: `/admin/login-events/export?format=csv&username=${randomUUID()}`, headers: bearer(token) })
  t.equal(csv.statusCode, 200)
  t.equal(csv.body.split('\r\n').filter(Boolean).length, 1)
})
