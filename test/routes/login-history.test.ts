import t from 'tap'
import { randomUUID } from 'node:crypto'
import { build, register, login, signUp, bearer, decodePart } from '../helper'
import type { StoredLoginEvent } from '../../plugins/login-events'

interface HistoryItem { id: string, type: string, outcome: string, reason: string | null, user_id: string | null, session_id: string | null, session_active?: boolean, at: string }

const origin = { ip: '198.51.100.9', userAgent: 'test', requestId: 'req' }

t.test('needs a bearer token', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/users/me/login-history' })
  t.equal(res.statusCode, 401)
  t.equal(res.json().error, 'missing_token')
})

t.test("the owner sees attempts against the account, failed ones included, and no one else's", async (t) => {
  const app = await build(t)
  const alice = await register(app, 'alice')
  await register(app, 'bob')
  await app.inject({ method: 'POST', url: '/auth/login', headers: { 'user-agent': 'guesser/1' }, payload: { username: 'ALICE', password: 'guessing-1234' } })
  await login(app, 'bob')
  const first = await login(app, 'alice')
  const second = await login(app, 'alice')
  // the first session ends: its login stays in the history, marked as no longer live
  await app.accountState.revokeSession(decodePart(first.access_token, 1).sid as string)

  const res = await app.inject({ url: '/users/me/login-history', headers: bearer(second.access_token) })
  t.equal(res.statusCode, 200)
  const { items, next_cursor: next } = res.json<{ items: HistoryItem[], next_cursor: string | null }>()
  t.equal(next, null)
  t.match(items, [
    { type: 'login', outcome: 'success', session_id: decodePart(second.access_token, 1).sid, session_active: true },
    { type: 'login', outcome: 'success', session_id: decodePart(first.access_token, 1).sid, session_active: false },
    { type: 'login', outcome: 'failure', reason: 'bad_password', user_id: alice.id, user_agent: 'guesser/1' },
    { type: 'register', outcome: 'success', user_id: alice.id }
  ])
  t.equal(items.length, 4, "bob's events are not in alice's history")
  t.ok(items.every((e) => e.user_id === alice.id))
  t.notOk('session_active' in items[2], 'a failed attempt opened no session')
})

t.test('type and outcome filters', async (t) => {
  const app = await build(t)
  const { tokens } = await signUp(app)
  await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'alice', password: 'guessing-1234' } })
  const failures = await app.inject({ url: '/users/me/login-history?outcome=failure', headers: bearer(tokens.access_token) })
  t.match(failures.json().items, [{ type: 'login', outcome: 'failure', reason: 'bad_password' }])
  t.equal(failures.json().items.length, 1)
  const registers = await app.inject({ url: '/users/me/login-history?type=register', headers: bearer(tokens.access_token) })
  t.equal(registers.json().items.length, 1)
  t.equal(registers.json().items[0].type, 'register')
  const bad = await app.inject({ url: '/users/me/login-history?type=coffee', headers: bearer(tokens.access_token) })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().error, 'validation_error')
})

t.test('a cursor that this service did not issue is a 400, never a 500', async (t) => {
  const app = await build(t)
  const { tokens } = await signUp(app)
  for (const cursor of ['x', 'bm90IGEgY3Vyc29y', Buffer.from('1.zzzzzzzzzzzzzzzzzzzzzzzz').toString('base64url'), Buffer.from('99999999999999999.6b043d37cad7ddc7cba7d808').toString('base64url'), '%24ne', 'a'.repeat(65)]) {
    const res = await app.inject({ url: `/users/me/login-history?cursor=${encodeURIComponent(cursor)}`, headers: bearer(tokens.access_token) })
    t.equal(res.statusCode, 400, cursor)
    t.equal(res.json().error, 'validation_error')
  }
  const limit = await app.inject({ url: '/users/me/login-history?limit=0', headers: bearer(tokens.access_token) })
  t.equal(limit.statusCode, 400)
})

t.test('pages of 10 over 30 events: no duplicate and no gap while new events arrive', async (t) => {
  const app = await build(t)
  const { user, tokens } = await signUp(app)
  // Seeded older than anything recorded during the test, three events per millisecond, so that
  // page boundaries fall inside groups of equal timestamps.
  const base = Date.now() - 3_600_000
  const seeded: StoredLoginEvent[] = Array.from({ length: 30 }, (_, i) => ({
    type: 'login', outcome: i % 2 === 0 ? 'success' : 'failure', reason: i % 2 === 0 ? null : 'bad_password',
    userId: user.id, username: 'alice', ip: '192.0.2.1', userAgent: 'seed', at: new Date(base + Math.floor(i / 3)), requestId: randomUUID()
  }))
  t.equal(await app.loginEvents.importMany(seeded), 30)

  const seen: string[] = []
  let cursor: string | null = null
  let pages = 0
  const before = await app.inject({ url: '/users/me/login-history?limit=50', headers: bearer(tokens.access_token) })
  const recentCount = before.json().items.length - 30 // register and login of signUp
  do {
    const res: { statusCode: number, json: <T>() => T } = await app.inject({ url: `/users/me/login-history?limit=10${cursor === null ? '' : `&cursor=${cursor}`}`, headers: bearer(tokens.access_token) })
    t.equal(res.statusCode, 200)
    const body = res.json<{ items: HistoryItem[], next_cursor: string | null }>()
    seen.push(...body.items.map((e) => e.id))
    cursor = body.next_cursor
    pages++
    // meanwhile, new attempts against the account: newer than every page still to come
    for (let i = 0; i < 3; i++) await app.loginEvents.record(origin, { type: 'login', outcome: 'failure', reason: 'bad_password', userId: user.id, username: 'alice' })
  } while (cursor !== null && pages < 10)

  t.equal(new Set(seen).size, seen.length, 'no event twice')
  const seededIds = new Set((await app.loginEvents.find({ userId: user.id, username: 'alice' }, 200)).filter((e) => e.user_agent === 'seed').map((e) => e.id))
  t.equal(seededIds.size, 30)
  for (const id of seededIds) t.ok(seen.includes(id), `seeded event ${id} is on a page`)
  t.equal(seen.length, 30 + recentCount, 'exactly the events that existed when the first page was read')
})

t.test('the history query reads its index in order (no in-memory sort)', async (t) => {
  const app = await build(t)
  const { user } = await signUp(app)
  await app.loginEvents.flush()
  const plan = await app.loginEvents.explainPage({ userId: user.id }, { limit: 50 })
  const withCursor = await app.loginEvents.explainPage({ userId: user.id }, { limit: 1, cursor: { at: new Date(), id: '6b043d37cad7ddc7cba7d808' } })

  t.test('on MongoDB: the (user_id, at, _id) index, in order, and no more keys than the page', {
    skip: plan.server === 'mongodb' ? false : 'FerretDB 1.x on SQLite pushes neither this filter nor the sort down: there is no index plan to check (see the next subtest)'
  }, async (t) => {
    t.same(plan.indexes, ['user_id_1_at_-1__id_-1'], 'the winning plan scans the (user_id, at, _id) index')
    t.equal(plan.inMemorySort, false, 'no SORT stage')
    t.ok((plan.keysExamined ?? Infinity) <= 51 + 1, 'reads no more keys than the page needs')
    t.same(withCursor.indexes, ['user_id_1_at_-1__id_-1'], 'with a cursor: the same index')
    t.equal(withCursor.inMemorySort, false, 'with a cursor: no SORT stage either')
  })

  t.test('on FerretDB: it says it scans the table and sorts by itself, as the README states', {
    skip: plan.server === 'ferretdb' ? false : 'not FerretDB'
  }, async (t) => {
    for (const [name, p] of [['first page', plan], ['with a cursor', withCursor]] as const) {
      const raw = p.raw as { filterPushdown?: unknown, sortPushdown?: unknown, queryPlanner?: { Plan?: unknown } }
      t.equal(raw.filterPushdown, false, `${name}: the filter is not pushed down to SQLite`)
      t.equal(raw.sortPushdown, false, `${name}: nor the sort`)
      t.match(JSON.stringify(raw.queryPlanner?.Plan), /SCAN login_events/, `${name}: SQLite scans the collection's table`)
      t.same(p.indexes, [], `${name}: no index named`)
      t.equal(p.inMemorySort, true, `${name}: reported as an in-memory sort`)
    }
  })
})
