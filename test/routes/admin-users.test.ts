import t from 'tap'
import { login, bearer, signUp, PASSWORD } from '../helper'
import { ROOT, as, buildWithAdmin, createUser } from '../admin'

t.test('GET /admin/users pages through every account in username order, with an opaque cursor', async (t) => {
  const { app, admin } = await buildWithAdmin(t)
  const names = ['Albert', 'alice', 'Bob', 'carol', 'Dave', 'erin', 'MALLORY']
  for (const name of names) await createUser(app, admin.token, name)
  const expected = [...names, ROOT.username].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()))

  const seen: string[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const query: Record<string, string> = { limit: '3' }
    if (cursor !== null) query.cursor = cursor
    const res = await as(app, admin.token)({ url: '/admin/users', query })
    t.equal(res.statusCode, 200)
    const body = res.json()
    t.ok(body.items.length <= 3)
    seen.push(...body.items.map((u: { username: string }) => u.username))
    cursor = body.next_cursor
    if (cursor !== null) t.notMatch(cursor, /alice|bob|carol|dave|erin|mallory|albert/i, 'the cursor does not read as a username')
    pages++
  } while (cursor !== null && pages < 10)
  t.same(seen, expected, 'every account once, in order')
  t.equal(pages, 3)

  const [first] = (await as(app, admin.token)({ url: '/admin/users', query: { limit: '1' } })).json().items
  t.same(Object.keys(first).sort(), ['created_at', 'email', 'id', 'last_login_at', 'lock_note', 'lock_reason', 'locked', 'locked_until', 'roles', 'username'])
  t.notMatch(JSON.stringify(first), /argon2|password/i, 'no hash in the listing')
})

t.test('filters: q (part of the username, any case), role, locked, combined', async (t) => {
  const { app, admin } = await buildWithAdmin(t)
  const ids: Record<string, string> = {}
  for (const name of ['Alice', 'Malice', 'bob', 'Carol']) ids[name] = await createUser(app, admin.token, name)
  await as(app, admin.token)({ method: 'PATCH', url: `/admin/users/${ids.Carol}`, payload: { roles: ['admin'] } })
  await as(app, admin.token)({ method: 'POST', url: `/admin/users/${ids.Malice}/lock`, payload: { reason: 'phishing' } })

  const names = async (query: Record<string, string>) => {
    const res = await as(app, admin.token)({ url: '/admin/users', query })
    t.equal(res.statusCode, 200, JSON.stringify(query))
    return res.json().items.map((u: { username: string }) => u.username)
  }
  t.same(await names({ q: 'ALI' }), ['Alice', 'Malice'])
  t.same(await names({ q: 'ｍａｌ' }), ['Malice'], 'normalised like usernames (NFKC, case)')
  t.same(await names({ q: '.*' }), [], 'q is literal text, not a pattern')
  t.same(await names({ role: 'admin' }), ['Carol', 'root'])
  t.same(await names({ locked: 'true' }), ['Malice'])
  t.same(await names({ locked: 'false' }), ['Alice', 'bob', 'Carol', 'root'])
  t.same(await names({ q: 'o', role: 'admin' }), ['Carol', 'root'])
  t.same(await names({ q: 'ali', locked: 'false' }), ['Alice'])
  t.same(await names({ role: 'nobody' }), [])
})

t.test('bad list queries: 400 in the contract shape', async (t) => {
  const { app, admin } = await buildWithAdmin(t)
  const queries: Array<Record<string, string>> = [{ cursor: 'not-a-cursor' }, { cursor: Buffer.from('{"x":1}').toString('base64url') }, { limit: '0' }, { limit: '201' }, { limit: 'many' }, { locked: 'maybe' }]
  for (const query of queries) {
    const res = await as(app, admin.token)({ url: '/admin/users', query })
    t.equal(res.statusCode, 400, JSON.stringify(query))
    t.match(res.json(), { error: /^(validation_error|bad_request)$/, message: String })
  }
})

t.test('POST /admin/users creates accounts with roles, even with registration closed', async (t) => {
  const { app, admin } = await buildWithAdmin(t, { REGISTRATION: 'closed' })
  const res = await as(app, admin.token)({ method: 'POST', url: '/admin/users', payload: { username: 'Operator', password: PASSWORD, email: 'op@example.com', roles: ['admin'] } })
  t.equal(res.statusCode, 201)
  t.match(res.json(), { id: /^[0-9a-f]{24}$/, username: 'Operator', email: 'op@example.com', roles: ['user', 'admin'], locked: false, last_login_at: null })
  t.notMatch(res.body, /argon2|password/)
  const tokens = await login(app, 'operator')
  t.equal((await as(app, tokens.access_token)({ url: '/admin/users' })).statusCode, 200, 'the new admin administers')

  const again = await as(app, admin.token)({ method: 'POST', url: '/admin/users', payload: { username: 'OPERATOR', password: PASSWORD } })
  t.equal(again.statusCode, 409)
  t.equal(again.json().error, 'username_taken')
  const unknown = await as(app, admin.token)({ method: 'POST', url: '/admin/users', payload: { username: 'x-user', password: PASSWORD, roles: ['superuser'] } })
  t.equal(unknown.statusCode, 400)
  t.match(unknown.json(), { error: 'unknown_role', message: /superuser.*admin, user/ })
  const weak = await as(app, admin.token)({ method: 'POST', url: '/admin/users', payload: { username: 'y-user', password: 'password' } })
  t.equal(weak.statusCode, 400)
  t.equal(weak.json().error, 'weak_password')

  const [event] = await app.loginEvents.find({ type: 'register', outcome: 'success', username: 'Operator' })
  t.equal(event.actor_id, admin.id, 'the admin is the actor')
})

t.test('GET /admin/users/:id: the account, or 404', async (t) => {
  const { app, admin } = await buildWithAdmin(t)
  const id = await createUser(app, admin.token, 'frank')
  const res = await as(app, admin.token)({ url: `/admin/users/${id}` })
  t.equal(res.statusCode, 200)
  t.match(res.json(), { id, username: 'frank', roles: ['user'], email: null, locked: false, locked_until: null })
  for (const missing of ['0123456789abcdef01234567', 'not-an-id', '{"$gt":""}']) {
    const gone = await as(app, admin.token)({ url: `/admin/users/${encodeURIComponent(missing)}` })
    t.equal(gone.statusCode, 404, missing)
    t.equal(gone.json().error, 'not_found')
  }
})

t.test('PATCH: an added role reaches the next token; a removed one ends the live tokens at once', async (t) => {
  const { app, admin } = await buildWithAdmin(t)
  const { user, tokens } = await signUp(app, 'grace')
  const patch = (payload: object) => as(app, admin.token)({ method: 'PATCH', url: `/admin/users/${user.id}`, payload })

  const promoted = await patch({ roles: ['admin'], email: 'grace@example.com' })
  t.equal(promoted.statusCode, 200)
  t.match(promoted.json(), { roles: ['user', 'admin'], email: 'grace@example.com' })
  t.equal((await app.inject({ url: '/users/me', headers: bearer(tokens.access_token) })).statusCode, 200, 'adding a role keeps the session')
  t.equal((await as(app, tokens.access_token)({ url: '/admin/users' })).statusCode, 403, 'the old token still carries the old roles')
  const fresh = await login(app, 'grace')
  t.equal((await as(app, fresh.access_token)({ url: '/admin/users' })).statusCode, 200, 'the next token carries the new role')
  t.same((await app.inject({ url: '/users/me', headers: bearer(fresh.access_token) })).json().roles, ['user', 'admin'])

  const demoted = await patch({ roles: [] })
  t.equal(demoted.statusCode, 200)
  t.same(demoted.json().roles, ['user'], 'the user role always stays')
  const refused = await as(app, fresh.access_token)({ url: '/admin/users' })
  t.equal(refused.statusCode, 401, 'the admin token stops working at once')
  t.equal(refused.json().error, 'token_revoked')
  const after = await login(app, 'grace')
  t.equal((await as(app, after.access_token)({ url: '/admin/users' })).statusCode, 403)

  t.same((await patch({ email: null })).json().email, null)
  const events = await app.loginEvents.find({ userId: user.id, type: 'admin_update' })
  t.same(events.map((e) => [e.reason, e.actor_id]).reverse(), [['roles', admin.id], ['email', admin.id], ['roles', admin.id], ['email', admin.id]])

  const bad = await patch({ roles: ['wizard'] })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().error, 'unknown_role')
  t.equal((await as(app, admin.token)({ method: 'PATCH', url: '/admin/users/0123456789abcdef01234567', payload: { email: null } })).statusCode, 404)
})

t.test('lock and unlock: live tokens and logins refused at once, then allowed again', async (t) => {
  const { app, admin } = await buildWithAdmin(t)
  const { user, tokens } = await signUp(app, 'heidi')
  const until = new Date(Date.now() + 3600_000).toISOString()

  const locked = await as(app, admin.token)({ method: 'POST', url: `/admin/users/${user.id}/lock`, payload: { reason: 'suspicious logins', until } })
  t.equal(locked.statusCode, 200)
  t.match(locked.json(), { id: user.id, locked: true, locked_until: until, lock_reason: 'admin', lock_note: 'suspicious logins' })
  for (const url of ['/users/me', '/auth/verify']) {
    const res = await app.inject({ url, headers: bearer(tokens.access_token) })
    t.equal(res.statusCode, 403, url)
    t.equal(res.json().error, 'account_locked')
  }
  const refused = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'heidi', password: PASSWORD } })
  t.equal(refused.statusCode, 403)
  t.equal(refused.json().error, 'account_locked')

  const unlocked = await as(app, admin.token)({ method: 'POST', url: `/admin/users/${user.id}/unlock` })
  t.equal(unlocked.statusCode, 200)
  t.match(unlocked.json(), { locked: false, locked_until: null, lock_reason: null, lock_note: null })
  t.equal((await app.inject({ url: '/users/me', headers: bearer(tokens.access_token) })).statusCode, 200, 'the same token works again')
  await login(app, 'heidi')

  const forever = await as(app, admin.token)({ method: 'POST', url: `/admin/users/${user.id}/lock` })
  t.equal(forever.statusCode, 200, 'no body: locked until unlocked')
  t.match(forever.json(), { locked: true, locked_until: null, lock_reason: 'admin', lock_note: null })

  const past = await as(app, admin.token)({ method: 'POST', url: `/admin/users/${user.id}/lock`, payload: { until: new Date(Date.now() - 1000).toISOString() } })
  t.equal(past.statusCode, 400)
  const notADate = await as(app, admin.token)({ method: 'POST', url: `/admin/users/${user.id}/lock`, payload: { until: 'tomorrow' } })
  t.equal(notADate.statusCode, 400)
  t.equal((await as(app, admin.token)({ method: 'POST', url: '/admin/users/0123456789abcdef01234567/lock', payload: {} })).statusCode, 404)
  t.equal((await as(app, admin.token)({ method: 'POST', url: '/admin/users/0123456789abcdef01234567/unlock' })).statusCode, 404)

  const events = (await app.loginEvents.find({ userId: user.id })).filter((e) => e.type === 'lock' || e.type === 'unlock').reverse()
  t.match(events, [
    { type: 'lock', outcome: 'success', reason: 'admin', actor_id: admin.id },
    { type: 'unlock', outcome: 'success', reason: 'admin', actor_id: admin.id },
    { type: 'lock', outcome: 'success', reason: 'admin', actor_id: admin.id }
  ])
  t.notMatch(JSON.stringify(events), 'suspicious', 'the note is not an event reason')
})

t.test('an admin cannot lock themself', async (t) => {
  const { app, admin } = await buildWithAdmin(t)
  await createUser(app, admin.token, 'second-admin', ['admin'])
  const res = await as(app, admin.token)({ method: 'POST', url: `/admin/users/${admin.id}/lock`, payload: {} })
  t.equal(res.statusCode, 409)
  t.same(res.json(), { error: 'cannot_lock_self', message: 'An administrator cannot lock their own account' })
  t.equal((await as(app, admin.token)({ url: '/admin/users' })).statusCode, 200, 'still in')
  const [event] = await app.loginEvents.find({ userId: admin.id, type: 'lock' })
  t.match(event, { outcome: 'failure', reason: 'cannot_lock_self', actor_id: admin.id })
})

t.test('DELETE: the account goes, its tokens stop at once, its events stay', async (t) => {
  const { app, admin } = await buildWithAdmin(t)
  const { user, tokens } = await signUp(app, 'ivan')
  const res = await as(app, admin.token)({ method: 'DELETE', url: `/admin/users/${user.id}` })
  t.equal(res.statusCode, 204)
  t.equal(res.body, '')
  const me = await app.inject({ url: '/auth/verify', headers: bearer(tokens.access_token) })
  t.equal(me.statusCode, 401)
  t.equal(me.json().error, 'token_revoked')
  const relogin = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'ivan', password: PASSWORD } })
  t.equal(relogin.statusCode, 401)
  t.equal((await as(app, admin.token)({ url: `/admin/users/${user.id}` })).statusCode, 404)
  t.equal((await as(app, admin.token)({ method: 'DELETE', url: `/admin/users/${user.id}` })).statusCode, 404)

  const events = await app.loginEvents.find({ userId: user.id })
  t.same(events.map((e) => e.type).sort(), ['admin_delete', 'login', 'register'], 'the history stays, with the deletion')
  t.equal(events.find((e) => e.type === 'admin_delete')?.actor_id, admin.id)
})
