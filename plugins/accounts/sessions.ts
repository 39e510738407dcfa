import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { errors } from '../../src/errors'
import type { Origin } from '../../src/lib/origin'
import { checkPassword, describePasswordProblem } from '../../src/lib/password-policy'
import type { AuthContext } from '../tokens'
import type { UserRecord } from '../stores/users'
import type { RefreshTokenMatch, SessionRecord } from '../stores/sessions'
import type { LoginResult } from './login'
import '../clock'
import '../passwords'
import '../tokens'
import '../account-state'
import '../lockout'
import '../login-events'
import '../stores/users'
import '../stores/sessions'
import './profiles'

/** A session as its owner sees it ("your devices"). */
export interface SessionView {
  id: string
  created_at: string
  last_used_at: string
  ip: string | null
  user_agent: string | null
  /** The session of the access token that asked. */
  current: boolean
}

export interface SessionLifecycle {
  /**
   * Spends a refresh token and returns a new pair, with roles and lock state read afresh.
   * A spent token presented again revokes its whole session (unless it is a retry within
   * REFRESH_REUSE_INTERVAL, which gets another new pair). Throws InvalidGrant or AccountLocked.
   */
  refresh(refreshToken: string, origin: Origin): Promise<LoginResult>
  /** Ends the caller's session; `refreshToken`, when given, must be one of that session's. */
  logout(auth: AuthContext, origin: Origin, refreshToken?: string): Promise<void>
  /** Ends every session of the caller; returns how many were live. */
  logoutAll(auth: AuthContext, origin: Origin): Promise<number>
  /**
   * Changes the caller's password: every session of the user ends, the caller's included, and
   * the caller gets a new session. Throws InvalidCredentials or WeakPassword.
   */
  changePassword(auth: AuthContext, currentPassword: string, newPassword: string, origin: Origin): Promise<LoginResult>
  /** The caller's live sessions, newest first. */
  list(auth: AuthContext): Promise<SessionView[]>
  /** Ends one of the caller's live sessions; false when it is not one. */
  end(auth: AuthContext, sessionId: string, origin: Origin): Promise<boolean>
}

declare module 'fastify' {
  interface FastifyInstance {
    sessionLifecycle: SessionLifecycle
  }
}

/**
 * What happens to a session after login: refresh-token rotation with reuse detection, idle
 * and absolute expiry, logout, logout everywhere, password change, and the sessions list.
 * Every ending goes through account-state, which refuses the session's access tokens at once
 * here and tells the other instances.
 */
async function sessionLifecycle (fastify: FastifyInstance): Promise<void> {
  const { clock, users, sessions, passwords, tokens, accountState, loginEvents, profiles, lockout } = fastify
  const idleMs = fastify.config.sessions.idleTimeout * 1000
  const reuseMs = fastify.config.sessions.reuseInterval * 1000

  /** Why a session can no longer be refreshed at `now`, or null when it can. */
  function ended (session: SessionRecord, now: number): string | null {
    if (session.revokedAt !== null) return 'revoked'
    if (session.expiresAt.getTime() <= now) return 'expired'
    if (session.lastUsedAt.getTime() + idleMs <= now) return 'idle'
    return null
  }

  /** The owner of a session that may be refreshed now; records the failure and throws otherwise. */
  async function owner (session: SessionRecord, now: number, origin: Origin): Promise<UserRecord> {
    const user = await users.findById(session.userId)
    if (user === null) throw new errors.InvalidGrant()
    const fail = async (reason: string) => {
      await loginEvents.record(origin, { type: 'refresh', outcome: 'failure', reason, userId: user.id, username: user.username, sessionId: session.id })
    }
    const reason = ended(session, now)
    if (reason !== null) {
      await fail(reason)
      throw new errors.InvalidGrant()
    }
    // A lock refuses the refresh as it refuses the session's access tokens (a session a known
    // device opened through an automatic lock passes that lock).
    const refusal = accountState.check({ userId: user.id, sessionId: session.id })
    if (refusal instanceof errors.AccountLocked) {
      await fail('account_locked')
      throw refusal
    }
    if (refusal !== null) {
      await fail('revoked')
      throw new errors.InvalidGrant()
    }
    return user
  }

  async function pair (user: UserRecord, sessionId: string, refreshToken: string, origin: Origin, type: 'refresh' | 'password_change', sessionEnd?: Date): Promise<LoginResult> {
    // An access token never outlives its session's absolute lifetime.
    const left = sessionEnd === undefined ? undefined : (sessionEnd.getTime() - clock.now()) / 1000
    const access = tokens.issueAccessToken({ id: user.id, username: user.username, roles: user.roles }, sessionId, left)
    await loginEvents.record(origin, { type, outcome: 'success', userId: user.id, username: user.username, sessionId })
    profiles.remember(user)
    return { access_token: access.token, token_type: 'Bearer', expires_in: access.expiresIn, refresh_token: refreshToken }
  }

  /** A refresh token that is no longer its session's current one. */
  async function spent (match: RefreshTokenMatch, refreshToken: string, now: number, origin: Origin): Promise<LoginResult> {
    const { session, state, spentAt } = match
    // (A refresh that started before the rotation spent the token sees it spent "in the future":
    // with no interval, that is still a reuse.)
    if (reuseMs > 0 && state === 'previous' && spentAt !== null && now - spentAt.getTime() < reuseMs) {
      // A client's retry of a refresh whose answer it did not get.
      const user = await owner(session, now, origin)
      const next = await sessions.reissue(session, refreshToken, new Date(now))
      if (next !== null) return pair(user, session.id, next, origin, 'refresh', session.expiresAt)
    }
    // Presented again after it was spent: whoever holds it, the session is no longer safe.
    await accountState.revokeSession(session.id)
    const user = await users.findById(session.userId)
    if (user !== null) {
      await loginEvents.record(origin, { type: 'refresh', outcome: 'failure', reason: 'reuse_detected', userId: user.id, username: user.username, sessionId: session.id })
    }
    fastify.log.warn({ sessionId: session.id }, 'a spent refresh token was presented again: session revoked')
    throw new errors.InvalidGrant()
  }

  async function refresh (refreshToken: string, origin: Origin): Promise<LoginResult> {
    const now = clock.now()
    // Found by its hash alone: a guessed or truncated token costs one primary-key lookup.
    const match = await sessions.matchRefreshToken(refreshToken)
    if (match === null) throw new errors.InvalidGrant()
    if (match.state !== 'current') return spent(match, refreshToken, now, origin)
    const user = await owner(match.session, now, origin)
    const next = await sessions.rotate(match.session, refreshToken, new Date(now))
    if (next !== null) return pair(user, match.session.id, next, origin, 'refresh', match.session.expiresAt)
    // Another refresh with the same token won the race (or the session ended meanwhile):
    // this one presents a spent token.
    const again = await sessions.matchRefreshToken(refreshToken)
    if (again === null || again.state === 'current') throw new errors.InvalidGrant()
    return spent(again, refreshToken, now, origin)
  }

  fastify.decorate('sessionLifecycle', {
    refresh,
    async logout (auth: AuthContext, origin: Origin, refreshToken?: string) {
      if (refreshToken !== undefined) {
        const match = await sessions.matchRefreshToken(refreshToken)
        if (match === null || match.session.id !== auth.sessionId) throw new errors.InvalidGrant()
      }
      await accountState.revokeSession(auth.sessionId)
      await loginEvents.record(origin, { type: 'logout', outcome: 'success', userId: auth.userId, username: auth.username, sessionId: auth.sessionId })
    },
    async logoutAll (auth: AuthContext, origin: Origin) {
      const ended = await accountState.revokeUser(auth.userId)
      await loginEvents.record(origin, { type: 'logout_all', outcome: 'success', userId: auth.userId, username: auth.username, sessionId: auth.sessionId })
      return ended
    },
    async changePassword (auth: AuthContext, currentPassword: string, newPassword: string, origin: Origin) {
      const user = await users.findById(auth.userId)
      if (user === null) throw new errors.InvalidToken()
      const event = { type: 'password_change' as const, userId: user.id, username: user.username, sessionId: auth.sessionId }
      const problem = checkPassword(newPassword, user.username)
      if (problem !== null) throw new errors.WeakPassword(describePasswordProblem(problem))
      // The current password is checked as a login checks it: a stolen access token must not
      // give its holder unlimited guesses (throttle, automatic lock and their events apply).
      const attempt = await lockout.beginAccount(user, user.usernameKey, origin)
      if (!await passwords.verify(user.passwordHash, currentPassword)) {
        await attempt.failed()
        await loginEvents.record(origin, { ...event, outcome: 'failure', reason: 'bad_password' })
        throw new errors.InvalidCredentials()
      }
      // The new hash first (written as the attempt succeeds, unless a lock came in meanwhile): a
      // login racing with the change and still using the old password opens a session that the
      // revocation below then ends.
      await attempt.succeeded(new Date(clock.now()), await passwords.hash(newPassword))
      await accountState.revokeUser(user.id)
      const session = await sessions.create(user.id, origin)
      return pair(user, session.sessionId, session.refreshToken, origin, 'password_change')
    },
    async list (auth: AuthContext) {
      const live = await sessions.listLive(auth.userId, new Date(clock.now()))
      return live.map((s) => ({
        id: s.id,
        created_at: s.createdAt.toISOString(),
        last_used_at: s.lastUsedAt.toISOString(),
        ip: s.ip,
        user_agent: s.userAgent,
        current: s.id === auth.sessionId
      }))
    },
    async end (auth: AuthContext, sessionId: string, origin: Origin) {
      const session = await sessions.findById(sessionId)
      if (session === null || session.userId !== auth.userId || ended(session, clock.now()) !== null) return false
      if (!await accountState.revokeSession(sessionId)) return false
      await loginEvents.record(origin, { type: 'logout', outcome: 'success', userId: auth.userId, username: auth.username, sessionId })
      return true
    }
  } satisfies SessionLifecycle)
}

export default fp(sessionLifecycle, {
  name: 'session-lifecycle',
  fastify: '5.x',
  dependencies: ['clock', 'passwords', 'tokens', 'account-state', 'lockout', 'login-events', 'users-store', 'sessions-store', 'profiles']
})
