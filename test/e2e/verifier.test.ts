import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { build, bearer, decodePart, eventually, PASSWORD, type Tokens } from '../helper'
import { testDatabaseUri, dropTestDatabase } from '../db'
import { startWarden, stop } from '../servers'
import { wardenVerifier } from '../../src/verifier'

const ADMIN = { username: 'root', password: 'a long admin password 1' }

/** A relying Fastify service in this process, following the Warden at `url`. */
async function relyingService (t: Test, url: string, client: { client_id: string, client_secret: string }): Promise<FastifyInstance> {
  const relying = Fastify()
  t.teardown(() => relying.close())
  await relying.register(wardenVerifier, {
    issuer: 'http://localhost:3000',
    audience: 'warden',
    jwksUri: `${url}/.well-known/jwks.json`,
    feed: { url: `${url}/oauth/revocations`, clientId: client.client_id, clientSecret: client.client_secret },
    maxBackoff: 1
  })
  relying.get('/hello', { onRequest: relying.authenticate }, async (request) => ({ hello: request.warden?.preferred_username }))
  return relying
}

function calls (url: string) {
  return async function call (method: string, path: string, body?: unknown, token?: string): Promise<{ status: number, json: Record<string, unknown> & Tokens & { id: string } }> {
    const res = await fetch(url + path, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token === undefined ? {} : bearer(token)) },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    const text = await res.text()
    return { status: res.status, json: text === '' ? null : JSON.parse(text) }
  }
}

t.test('a relying service refuses within a second what Warden ended: logout-all, password change, a session, an admin lock', async (t) => {
  const uri = testDatabaseUri()
  t.teardown(() => dropTestDatabase(uri))
  const warden = await startWarden(t, { MONGODB_URI: uri, ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password })
  const local = await build(t, { MONGODB_URI: uri })
  const relying = await relyingService(t, warden.url, await local.clients.create('relying'))
  const call = calls(warden.url)
  const hello = async (token: string) => (await relying.inject({ url: '/hello', headers: bearer(token) })).statusCode
  async function refusedWithinASecond (token: string, status: number, what: string): Promise<void> {
    const ms = await eventually(async () => await hello(token) === status, 1000, what)
    t.pass(`${what}: refused by the relying service after ${ms} ms`)
  }
  const loginAs = async (username: string, password = PASSWORD): Promise<Tokens> => (await call('POST', '/auth/login', { username, password })).json

  const alice = (await call('POST', '/auth/register', { username: 'alice', password: PASSWORD })).json
  let first = await loginAs('alice')
  t.equal(await hello(first.access_token), 200, 'a valid token passes')
  t.same((await relying.inject({ url: '/hello', headers: bearer(first.access_token) })).json(), { hello: 'alice' })

  t.equal((await call('POST', '/auth/logout-all', undefined, first.access_token)).status, 204)
  await refusedWithinASecond(first.access_token, 401, 'logout-all')

  first = await loginAs('alice')
  const changed = await call('POST', '/auth/password', { current_password: PASSWORD, new_password: 'another horse battery staple' }, first.access_token)
  t.equal(changed.status, 200)
  await refusedWithinASecond(first.access_token, 401, 'password change')
  t.equal(await hello(changed.json.access_token), 200, 'the pair from the change passes')

  const a = await loginAs('alice', 'another horse battery staple')
  const b = await loginAs('alice', 'another horse battery staple')
  t.equal((await call('DELETE', `/users/me/sessions/${decodePart(a.access_token, 1).sid as string}`, undefined, b.access_token)).status, 204)
  await refusedWithinASecond(a.access_token, 401, 'session deletion')
  t.equal(await hello(b.access_token), 200, 'the other session lives')

  const root = await loginAs(ADMIN.username, ADMIN.password)
  t.equal((await call('POST', `/admin/users/${alice.id as string}/lock`, { reason: 'investigation' }, root.access_token)).status, 200)
  await refusedWithinASecond(b.access_token, 403, 'admin lock')
  t.equal((await relying.inject({ url: '/hello', headers: bearer(b.access_token) })).json().error, 'account_locked')
})

t.test('Warden restarted mid-stream: what changed while it was down reaches the relying service', async (t) => {
  const uri = testDatabaseUri()
  t.teardown(() => dropTestDatabase(uri))
  const first = await startWarden(t, { MONGODB_URI: uri })
  const port = new URL(first.url).port
  const local = await build(t, { MONGODB_URI: uri })
  const relying = await relyingService(t, first.url, await local.clients.create('relying'))
  const call = calls(first.url)
  const hello = async (token: string) => (await relying.inject({ url: '/hello', headers: bearer(token) })).statusCode

  await call('POST', '/auth/register', { username: 'bob', password: PASSWORD })
  await call('POST', '/auth/register', { username: 'carol', password: PASSWORD })
  const early = (await call('POST', '/auth/login', { username: 'bob', password: PASSWORD })).json as Tokens
  const bobs = (await call('POST', '/auth/login', { username: 'bob', password: PASSWORD })).json as Tokens
  const carols = (await call('POST', '/auth/login', { username: 'carol', password: PASSWORD })).json as Tokens
  t.equal((await call('POST', '/auth/logout', undefined, early.access_token)).status, 204)
  await eventually(async () => await hello(early.access_token) === 401, 1000, 'the first logout')
  const seen = relying.wardenVerifier.status().lastEventId
  t.ok(seen, 'the relying service has followed a change')
  t.equal(await hello(bobs.access_token), 200)
  t.equal(await hello(carols.access_token), 200)

  await stop(first.child)
  // While Warden is down, another instance on the same database ends a session and locks an account.
  await local.accountState.revokeSession(decodePart(bobs.access_token, 1).sid as string)
  await local.accountState.lock(decodePart(carols.access_token, 1).sub as string, { reason: 'admin' })
  t.equal(await hello(bobs.access_token), 200, 'not known yet: the feed is down')

  await startWarden(t, { MONGODB_URI: uri, PORT: port })
  await eventually(async () => await hello(bobs.access_token) === 401 && await hello(carols.access_token) === 403, 20_000, 'the missed changes')
  t.not(relying.wardenVerifier.status().lastEventId, seen, 'resumed after the change it had seen')
  t.equal(relying.wardenVerifier.status().connected, true)
})
