import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { trusted } from 'mongoose'
import { errors } from '../src/errors'
import type { AuthContext } from './tokens'
import './config'
import './db'

/**
 * What the authentication hook must know beyond a token's signature, kept in memory so
 * that no protected request waits on the database: which accounts are locked and which
 * sessions are revoked. Loaded at start; every change made through this instance updates
 * it at once.
 */
export interface AccountState {
  /** The error a request with this context must get, or null when it may pass. */
  check(auth: AuthContext): Error | null
  lock(userId: string, until: Date): void
  unlock(userId: string): void
  isLocked(userId: string): boolean
  /** Access tokens of the session stop working; remembered until they would have expired anyway. */
  revokeSession(sessionId: string, revokedAt: Date): void
}

declare module 'fastify' {
  interface FastifyInstance {
    accountState: AccountState
  }
}

async function accountState (fastify: FastifyInstance): Promise<void> {
  const { users, sessions } = fastify.db
  /** user id -> locked until (ms) */
  const locked = new Map<string, number>()
  /** session id -> forget after (ms): when every access token of the session has expired */
  const revoked = new Map<string, number>()
  const accessTtlMs = fastify.config.jwt.accessTokenTtl * 1000

  const now = new Date()
  const [lockedUsers, revokedSessions] = await Promise.all([
    users.find({ locked_until: trusted({ $gt: now }) }, { locked_until: 1 }).lean(),
    sessions.find({ revoked_at: trusted({ $gt: new Date(now.getTime() - accessTtlMs) }) }, { revoked_at: 1 }).lean()
  ])
  for (const u of lockedUsers) locked.set(String(u._id), (u.locked_until as Date).getTime())
  for (const s of revokedSessions) revoked.set(s._id, (s.revoked_at as Date).getTime() + accessTtlMs)

  /** Whether `key` is held in `entries` until a time still to come; forgets it once past. */
  function holds (entries: Map<string, number>, key: string): boolean {
    const until = entries.get(key)
    if (until === undefined) return false
    if (until > Date.now()) return true
    entries.delete(key)
    return false
  }

  const isLocked = (userId: string): boolean => holds(locked, userId)

  fastify.decorate('accountState', {
    check (auth: AuthContext) {
      if (revoked.size !== 0 && holds(revoked, auth.sessionId)) return new errors.TokenRevoked()
      if (locked.size !== 0 && isLocked(auth.userId)) return new errors.AccountLocked()
      return null
    },
    lock (userId: string, until: Date) { locked.set(userId, until.getTime()) },
    unlock (userId: string) { locked.delete(userId) },
    isLocked,
    revokeSession (sessionId: string, revokedAt: Date) { revoked.set(sessionId, revokedAt.getTime() + accessTtlMs) }
  } satisfies AccountState)
}

export default fp(accountState, { name: 'account-state', fastify: '5.x', dependencies: ['config', 'db'] })
