/**
 * The soak's traffic: five routes, each driven by an autocannon instance of its own at a fixed
 * rate, sharing one pool of sessions. Readers (verify, users/me, login history) present the
 * newest access token of a session; a refresh takes a session out of the pool, presents its
 * newest refresh token and puts the session back with the new pair, so no two refreshes ever
 * present the same token; a login (a pool of accounts, correct passwords) adds its new session
 * to the pool, which keeps the newest POOL_SIZE.
 */
import type autocannon from 'autocannon'
import type { TrafficSpec } from '../lib/load'
import { loginRequests, type Account, type LoginAnswer } from '../lib/warden'

export interface Session {
  access: string
  refresh: string
  /** a refresh of this session is in flight: its refresh token is about to be spent */
  busy: boolean
}

/** Sessions kept for the load; a login's new session pushes the oldest idle one out. */
export const POOL_SIZE = 32

export class SessionPool {
  private readonly sessions: Session[] = []
  private reader = 0
  private refresher = 0

  get size (): number {
    return this.sessions.length
  }

  add (answer: LoginAnswer): void {
    this.sessions.push({ access: answer.access_token, refresh: answer.refresh_token, busy: false })
    if (this.sessions.length > POOL_SIZE) {
      const idle = this.sessions.findIndex((s) => !s.busy)
      if (idle !== -1) this.sessions.splice(idle, 1)
    }
  }

  /** The next session's newest access token, round robin ('' once every session is gone: its 401 counts). */
  accessToken (): string {
    if (this.sessions.length === 0) return ''
    return this.sessions[this.reader++ % this.sessions.length].access
  }

  /** The next session no refresh is using, marked busy; undefined when every one is. */
  checkOut (): Session | undefined {
    for (let i = 0; i < this.sessions.length; i++) {
      const s = this.sessions[this.refresher++ % this.sessions.length]
      if (!s.busy) {
        s.busy = true
        return s
      }
    }
    return undefined
  }

  /** A refresh answered: with the new pair the session is back in the pool; without it, gone. */
  checkIn (session: Session, answer: LoginAnswer | undefined): void {
    session.busy = false
    if (answer === undefined) {
      const at = this.sessions.indexOf(session)
      if (at !== -1) this.sessions.splice(at, 1)
      return
    }
    session.access = answer.access_token
    session.refresh = answer.refresh_token
  }
}

export interface SoakRoute {
  /** short name for the table and the JSON */
  name: string
  /** what it sends, e.g. `GET /auth/verify` */
  title: string
  /** the status every answer must have */
  expectStatus: number
  /** requests per second (over all its connections) */
  rate: number
  connections: number
  traffic: TrafficSpec
}

function parseAnswer (status: number, body: string): LoginAnswer | undefined {
  if (status !== 200) return undefined
  try {
    const answer = JSON.parse(body) as LoginAnswer
    return typeof answer.access_token === 'string' && typeof answer.refresh_token === 'string' ? answer : undefined
  } catch {
    return undefined
  }
}

/**
 * The routes of the mix against `url`, in requests per second: verify 1,000 and users/me 400 (the
 * hot paths, answered from memory), refresh 10 (three writes and an event each), login 2 (an
 * Argon2 verify costs tens of milliseconds of a core: 0.1 % of the requests) and the login
 * history 1 (the rarest read, and autocannon's lowest rate for one connection; on FerretDB 1.x
 * each page scans every login event). About a third of a core of the server on this machine.
 */
export function soakRoutes (url: string, pool: SessionPool, accounts: Account[]): SoakRoute[] {
  const bearer = (path: string): autocannon.Request => ({
    method: 'GET',
    path,
    setupRequest: (request) => ({ ...request, headers: { ...request.headers, authorization: `Bearer ${pool.accessToken()}` } })
  })
  const route = (name: string, title: string, expectStatus: number, rate: number, connections: number, requests: autocannon.Request[]): SoakRoute => ({
    name,
    title,
    expectStatus,
    rate,
    connections,
    traffic: { url, path: requests[0]?.path ?? '/', requests, connections, overallRate: rate }
  })

  const refresh: autocannon.Request = {
    method: 'POST',
    path: '/auth/refresh',
    headers: { 'content-type': 'application/json' },
    setupRequest: (request, context) => {
      const session = pool.checkOut()
      context.session = session
      // Every session busy cannot happen with POOL_SIZE far above the refresh connections; an
      // empty token then gets its 400 and counts as unexpected.
      return { ...request, body: JSON.stringify({ refresh_token: session?.refresh ?? '' }) }
    },
    onResponse: (status, body, context) => {
      const session = context.session as Session | undefined
      if (session !== undefined) pool.checkIn(session, parseAnswer(status, body))
    }
  }

  const logins = loginRequests(accounts).map((r): autocannon.Request => ({
    ...r,
    onResponse: (status, body) => {
      const answer = parseAnswer(status, body)
      if (answer !== undefined) pool.add(answer)
    }
  }))

  return [
    route('verify', 'GET /auth/verify', 204, 1000, 4, [bearer('/auth/verify')]),
    route('users-me', 'GET /users/me', 200, 400, 2, [bearer('/users/me')]),
    route('history', 'GET /users/me/login-history', 200, 1, 1, [bearer('/users/me/login-history?limit=50')]),
    route('refresh', 'POST /auth/refresh', 200, 10, 4, [refresh]),
    route('login', 'POST /auth/login', 200, 2, 1, logins)
  ]
}
