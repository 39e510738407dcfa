import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { errors } from '../src/errors'
import type { AuthContext } from './tokens'
import type { StateChange } from './stores/state-changes'
import './config'
import './propagation'
import './stores/users'
import './stores/sessions'
import './stores/state-changes'

/** The `until` of a lock without an end. */
export const PERMANENT = 8_640_000_000_000_000

/** The reason of a lock made by the lockout policy; any other reason (`admin`, ...) also blocks known devices. */
export const AUTO_LOCK = 'auto_threshold'

export interface LockOptions {
  /** When the lock ends; omitted: never (until unlocked). */
  until?: Date
  reason: string
}

export interface Lock {
  /** ms since the epoch; PERMANENT for no end */
  until: number
  reason: string
}

/** What `check` needs to know about a request: whose it is and which session it belongs to. */
export type SessionRef = Pick<AuthContext, 'userId' | 'sessionId'>

/**
 * The one owner of account state: which accounts are locked and which sessions are revoked.
 * Every change is one call here: it persists through the stores, updates this instance's
 * memory, then publishes on the propagation seam. Everything else asks this plugin; the
 * authentication hook reads its memory, so no protected request waits on the database.
 */
export interface AccountState {
  /**
   * The error a request with this context must get, or null when it may pass. Also what a
   * refresh asks before it issues new tokens: a session admitted during an automatic lock
   * (see `admitSession`) passes that lock; nothing passes any other lock.
   */
  check(auth: SessionRef): Error | null
  isLocked(userId: string): boolean
  /** When the lock of a locked account ends (ms; PERMANENT for no end), else undefined. */
  lockedUntil(userId: string): number | undefined
  /** The lock of a locked account (its end and reason), else undefined. */
  lockOf(userId: string): Lock | undefined
  /**
   * Lets a session through the automatic lock in force (a login from a known device, which an
   * automatic lock does not block), until the lock ends or `sessionEnd` (ms), whichever is first.
   */
  admitSession(userId: string, sessionId: string, sessionEnd: number): Promise<void>
  /** Locks an account: its live tokens and its logins are refused. False when there is no such user. */
  lock(userId: string, options: LockOptions): Promise<boolean>
  /** Unlocks an account. False when there is no such user. */
  unlock(userId: string): Promise<boolean>
  /** Ends one session: its refresh token and access tokens stop working. False when it was not live. */
  revokeSession(sessionId: string): Promise<boolean>
  /** Ends every session of a user (but `exceptSessionId`): logout-all, password change, deletion. */
  revokeUser(userId: string, exceptSessionId?: string): Promise<number>
}

declare module 'fastify' {
  interface FastifyInstance {
    accountState: AccountState
  }
}

async function accountState (fastify: FastifyInstance): Promise<void> {
  const { users, sessions, stateChanges, propagation } = fastify
  /** user id -> locked until (ms) */
  const locked = new Map<string, number>()
  /** user id -> why it is locked */
  const reasons = new Map<string, string>()
  /** session id -> passes the automatic lock of its user until (ms) */
  const admitted = new Map<string, number>()
  /** session id -> forget after (ms): when every access token of the session has expired */
  const revoked = new Map<string, number>()
  const accessTtlMs = fastify.config.jwt.accessTokenTtl * 1000

  function apply (change: StateChange): void {
    switch (change.kind) {
      case 'lock':
        if (change.userId !== undefined) {
          locked.set(change.userId, change.until)
          // a lock journalled without its reason is treated as the strictest kind
          reasons.set(change.userId, change.reason ?? 'admin')
        }
        break
      case 'unlock':
        if (change.userId !== undefined) {
          locked.delete(change.userId)
          reasons.delete(change.userId)
        }
        break
      case 'device_session':
        if (change.sessionId !== undefined) admitted.set(change.sessionId, change.until)
        break
      case 'session_revoked':
        if (change.sessionId !== undefined) revoked.set(change.sessionId, change.until)
        break
    }
  }

  for (const change of await stateChanges.live(Date.now())) apply(change)
  propagation.onRemote(apply)

  /** Journals a change, applies it here, then tells the other instances. */
  async function change (c: StateChange): Promise<void> {
    const stored = await stateChanges.append(c)
    apply(stored)
    propagation.publish(stored)
  }

  /** Whether `key` is held in `entries` until a time still to come; forgets it once past. */
  function holds (entries: Map<string, number>, key: string): boolean {
    const until = entries.get(key)
    if (until === undefined) return false
    if (until > Date.now()) return true
    entries.delete(key)
    return false
  }

  const isLocked = (userId: string): boolean => locked.size !== 0 && holds(locked, userId)

  function lockOf (userId: string): Lock | undefined {
    if (!isLocked(userId)) return undefined
    return { until: locked.get(userId) as number, reason: reasons.get(userId) ?? 'admin' }
  }

  /** A locked account's session may pass only an automatic lock, and only once admitted. */
  function admittedThroughLock (auth: SessionRef): boolean {
    return admitted.size !== 0 && reasons.get(auth.userId) === AUTO_LOCK && holds(admitted, auth.sessionId)
  }

  async function revokeSessions (ids: string[], at: number): Promise<void> {
    await Promise.all(ids.map((sessionId) => change({ kind: 'session_revoked', sessionId, at, until: at + accessTtlMs })))
  }

  fastify.decorate('accountState', {
    check (auth: SessionRef) {
      if (revoked.size !== 0 && holds(revoked, auth.sessionId)) return new errors.TokenRevoked()
      if (isLocked(auth.userId) && !admittedThroughLock(auth)) return new errors.AccountLocked()
      return null
    },
    isLocked,
    lockedUntil (userId: string) {
      return isLocked(userId) ? locked.get(userId) : undefined
    },
    lockOf,
    async admitSession (userId: string, sessionId: string, sessionEnd: number) {
      const lock = lockOf(userId)
      if (lock === undefined || lock.reason !== AUTO_LOCK) return
      await change({ kind: 'device_session', userId, sessionId, at: Date.now(), until: Math.min(lock.until, sessionEnd) })
    },
    async lock (userId: string, options: LockOptions) {
      const until = options.until ?? new Date(PERMANENT)
      if (!await users.setLock(userId, until, options.reason)) return false
      await change({ kind: 'lock', userId, at: Date.now(), until: until.getTime(), reason: options.reason })
      return true
    },
    async unlock (userId: string) {
      if (!await users.setLock(userId, null, null)) return false
      await stateChanges.forgetLocks(userId)
      const at = Date.now()
      await change({ kind: 'unlock', userId, at, until: at + accessTtlMs })
      return true
    },
    async revokeSession (sessionId: string) {
      const now = new Date()
      const session = await sessions.revoke(sessionId, now)
      if (session === null) return false
      await revokeSessions([sessionId], now.getTime())
      return true
    },
    async revokeUser (userId: string, exceptSessionId?: string) {
      const now = new Date()
      const ids = await sessions.revokeAllOfUser(userId, now, exceptSessionId)
      await revokeSessions(ids, now.getTime())
      return ids.length
    }
  } satisfies AccountState)
}

export default fp(accountState, {
  name: 'account-state',
  fastify: '5.x',
  dependencies: ['config', 'propagation', 'users-store', 'sessions-store', 'state-changes-store']
})
