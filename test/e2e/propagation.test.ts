import t, { type Test } from 'tap'
import { build, eventually, PASSWORD, type Teardown, type Tokens } from '../helper'
import { testDatabaseUri, dropTestDatabase } from '../db'
import { startRedis, startWarden, type RunningServer } from '../servers'

/**
 * Two Warden server processes on one database: what one of them ends must be refused by the
 * other within the bounds the README states ("Running several instances"): one poll interval
 * plus the time of one poll without Redis, one Redis round trip with it. A bound is measured
 * from the answer of the instance that made the change to the first refusal by the other.
 */

const POLL_S = 1
/** The time of one poll, as the README bounds it (FerretDB on a busy two-core machine). */
const ONE_POLL_MS = 250
/** The README's bound with Redis: one round trip, on a busy two-core machine. */
const REDIS_BOUND_MS = 100

async function post (server: RunningServer, path: string, body?: unknown, token?: string): Promise<Response> {
  const headers: Record<string, string> = {}
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  return fetch(server.url + path, { method: 'POST', headers, body: body === undefined ? undefined : JSON.stringify(body) })
}

async function signUp (server: RunningServer, username: string): Promise<{ id: string, login: () => Promise<Tokens> }> {
  const res = await post(server, '/auth/register', { username, password: PASSWORD })
  if (res.status !== 201) throw new Error(`register: ${res.status}`)
  const { id } = await res.json() as { id: string }
  return {
    id,
    login: async () => {
      const answer = await post(server, '/auth/login', { username, password: PASSWORD })
      if (answer.status !== 200) throw new Error(`login: ${answer.status}`)
      return await answer.json() as Tokens
    }
  }
}

async function verify (server: RunningServer, token: string): Promise<number> {
  return (await fetch(`${server.url}/auth/verify`, { headers: { authorization: `Bearer ${token}` } })).status
}

const sidOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sid

/** Runs every ending through `a` (the lock through a third, in-process instance) and times its arrival at `b`. */
async function scenarios (t: Test, env: Record<string, string>, boundMs: number): Promise<void> {
  const [a, b] = await Promise.all([startWarden(t, env), startWarden(t, env)])
  const third = await build(t, env)

  async function arrives (what: string, token: string, code: number, server = b): Promise<void> {
    const ms = await eventually(async () => await verify(server, token) === code, boundMs, `${what} on ${server.url}`)
    t.comment(`${what}: refused by ${server === b ? 'the other' : 'the first'} process after ${ms} ms`)
    t.pass(`${what} reaches ${server === b ? 'the other' : 'the first'} process within ${boundMs} ms`)
  }

  // logout-all
  const alice = await signUp(a, 'alice')
  const [one, two] = [await alice.login(), await alice.login()]
  t.equal(await verify(b, one.access_token), 204, 'a token of A works on B')
  t.equal((await post(a, '/auth/logout-all', undefined, one.access_token)).status, 204)
  t.equal(await verify(a, two.access_token), 401, 'refused at once on A')
  await arrives('logout-all', two.access_token, 401)

  // password change
  const bob = await signUp(a, 'bob')
  const bobs = await bob.login()
  t.equal(await verify(b, bobs.access_token), 204)
  const changed = await post(a, '/auth/password', { current_password: PASSWORD, new_password: 'another long pass phrase' }, bobs.access_token)
  t.equal(changed.status, 200)
  await arrives('password change', bobs.access_token, 401)
  t.equal(await verify(b, (await changed.json() as Tokens).access_token), 204, 'the fresh pair works on B')

  // deleting a session
  const carol = await signUp(a, 'carol')
  const [laptop, phone] = [await carol.login(), await carol.login()]
  t.equal(await verify(b, phone.access_token), 204)
  const deleted = await fetch(`${a.url}/users/me/sessions/${sidOf(phone.access_token)}`, { method: 'DELETE', headers: { authorization: `Bearer ${laptop.access_token}` } })
  t.equal(deleted.status, 204)
  await arrives('session delete', phone.access_token, 401)
  t.equal(await verify(b, laptop.access_token), 204, 'the other session lives')

  // logging out one session
  const erin = await signUp(a, 'erin')
  const [desk, tablet] = [await erin.login(), await erin.login()]
  t.equal(await verify(b, desk.access_token), 204)
  t.equal((await post(a, '/auth/logout', { refresh_token: desk.refresh_token }, desk.access_token)).status, 204)
  t.equal(await verify(a, desk.access_token), 401, 'refused at once on A')
  await arrives('logout', desk.access_token, 401)
  t.equal(await verify(b, tablet.access_token), 204, 'the other session lives')
  t.equal((await post(b, '/auth/refresh', { refresh_token: desk.refresh_token })).status, 401, 'its refresh token is refused on B too')

  // a lock made through a third instance
  const dave = await signUp(a, 'dave')
  const daves = await dave.login()
  t.equal(await verify(b, daves.access_token), 204)
  await third.accountState.lock(dave.id, { reason: 'admin' })
  await arrives('lock', daves.access_token, 403)
  await arrives('lock', daves.access_token, 403, a)
}

function database (t: Teardown): string {
  const uri = testDatabaseUri()
  t.teardown(() => dropTestDatabase(uri))
  return uri
}

t.test('two processes without Redis: the poll carries every ending within the interval', async (t) => {
  await scenarios(t, { MONGODB_URI: database(t), PROPAGATION_POLL_INTERVAL: String(POLL_S) }, POLL_S * 1000 + ONE_POLL_MS)
})

t.test('two processes with Redis: every ending arrives at once', async (t) => {
  const REDIS_URL = (await startRedis(t)).url
  // The poll (the safety net) is set far beyond the test, so only Redis can meet the bound.
  await scenarios(t, { MONGODB_URI: database(t), REDIS_URL, PROPAGATION_POLL_INTERVAL: '600' }, REDIS_BOUND_MS)
})
