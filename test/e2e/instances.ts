/**
 * Two Warden processes on one database and one redis-server, and the calls the tests of several
 * instances make to them: each purpose from a client address of its own (TRUST_PROXY is set), since
 * the rate limit of POST /auth/ counts per address.
 */
import { PASSWORD, type Teardown } from '../helper'
import { dropTestDatabase, testDatabaseUri } from '../db'
import { startRedis, startWarden, type RedisServer, type RunningServer } from '../servers'
import { send, type Answer, type Call } from './load'

export const ADMIN = { username: 'root', password: 'a long admin password 1' }

export interface Pair {
  a: RunningServer
  b: RunningServer
  redis: RedisServer
  /** The database both use. */
  uri: string
  name(server: RunningServer): 'A' | 'B'
  other(server: RunningServer): RunningServer
  /** Headers of a client at an address no call has used yet. */
  from(): Record<string, string>
  call(server: RunningServer, c: Call): Promise<Answer>
  /** A login from a fresh address unless `headers` says which. */
  login(username: string, password: string, headers?: Record<string, string>): Call
  /** Logs in and resolves with the access token; throws on anything but 200. */
  tokenOf(server: RunningServer, username: string, password?: string): Promise<string>
  verify(server: RunningServer, token: string): Promise<number | null>
  register(server: RunningServer, username: string): Promise<Answer>
  /** Registers through A and resolves with the account's id; throws on anything but 201. */
  idOf(username: string): Promise<string>
}

/** Starts Redis, then A (which makes the first admin: two starts would race to) and B, all with `env`. */
export async function startPair (t: Teardown, env: Record<string, string>): Promise<Pair> {
  const redis = await startRedis(t)
  const uri = testDatabaseUri()
  t.teardown(() => dropTestDatabase(uri))
  const shared = { MONGODB_URI: uri, REDIS_URL: redis.url, TRUST_PROXY: 'true', ...env }
  const a = await startWarden(t, { ...shared, ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password })
  const b = await startWarden(t, shared)
  const name = (server: RunningServer): 'A' | 'B' => server === a ? 'A' : 'B'
  let addresses = 0
  const from = (): Record<string, string> => ({ 'x-forwarded-for': `198.51.100.${++addresses}` })
  const call = (server: RunningServer, c: Call): Promise<Answer> => send(server.url, c, 'two-instances')
  const login = (username: string, password: string, headers = from()): Call => ({ kind: 'login', method: 'POST', path: '/auth/login', headers, body: { username, password } })
  const register = (server: RunningServer, username: string): Promise<Answer> =>
    call(server, { kind: 'register', method: 'POST', path: '/auth/register', headers: from(), body: { username, password: PASSWORD } })
  return {
    a,
    b,
    redis,
    uri,
    name,
    other: (server) => server === a ? b : a,
    from,
    call,
    login,
    register,
    async tokenOf (server, username, password = PASSWORD) {
      const res = await call(server, login(username, password))
      if (res.status !== 200) throw new Error(`login of ${username} on ${name(server)}: ${res.status}`)
      return (res.json as { access_token: string }).access_token
    },
    async verify (server, token) {
      return (await call(server, { kind: 'verify', method: 'GET', path: '/auth/verify', headers: { authorization: `Bearer ${token}` } })).status
    },
    async idOf (username) {
      const res = await register(a, username)
      if (res.status !== 201) throw new Error(`register ${username}: ${res.status}`)
      return (res.json as { id: string }).id
    }
  }
}
