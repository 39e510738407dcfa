import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { errors } from '../src/errors'
import type { AuthContext } from './tokens'
import type { StateChange } from './stores/state-changes'
import { AUTO_LOCK, PERMANENT, Revocations, type Lock, type RevocationChange } from '../src/lib/revocations'
import './config'
import './propagation'
import './stores/users'
import './stores/sessions'
import './stores/state-changes'

export { AUTO_LOCK, PERMANENT, type Lock } from '../src/lib/revocations'

/** How often entries that no longer matter are forgotten. */
const SWEEP_INTERVAL_MS = 60_000

export interface LockOptions {
  /** When the lock ends; omitted: never (until unlocked). */
  until?: Date
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
  /** What this instance refuses at `now`, as changes that rebuild it (see Revocations.entries). */
  entries(now: number, cap?: (change: RevocationChange) => number): RevocationChange[]
}

declare module 'fastify' {
  interface FastifyInstance {
    accountState: AccountState
  }
}

async function accountState (fastify: FastifyInstance): Promise<void> {
  const { users, sessions, stateChanges, propagation } = fastify
  const state = new Revocations()
  const accessTtlMs = fastify.config.jwt.accessTokenTtl * 1000
  const apply = (change: StateChange): void => { state.apply(change) }

  for (const change of await stateChanges.live(Date.now())) apply(change)
  propagation.onRemote(apply)

  // Entries nobody asks about again (a revoked session whose tokens are never presented) leave too.
  const sweeper = setInterval(() => { state.sweep(Date.now()) }, SWEEP_INTERVAL_MS)
  sweeper.unref()
  fastify.addHook('onClose', async () => { clearInterval(sweeper) })

  /** Journals a change, applies it here, then tells the other instances. */
  async function change (c: StateChange): Promise<void> {
    const stored = await stateChanges.append(c)
    apply(stored)
    propagation.publish(stored)
  }

  const isLocked = (userId: string): boolean => state.isLocked(userId)
  const lockOf = (userId: string): Lock | undefined => state.lockOf(userId)

  async function revokeSessions (ids: string[], at: number): Promise<void> {
    await Promise.all(ids.map((sessionId) => change({ kind: 'session_revoked', sessionId, at, until: at + accessTtlMs })))
  }

  fastify.decorate('accountState', {
    check (auth: SessionRef) {
      const refusal = state.refusal(auth.userId, auth.sessionId)
      if (refusal === null) return null
      return refusal === 'token_revoked' ? new errors.TokenRevoked() : new errors.AccountLocked()
    },
    isLocked,
    lockedUntil (userId: string) {
      return lockOf(userId)?.until
    },
    entries (now: number, cap?: (change: RevocationChange) => number) {
      return state.entries(now, cap)
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
