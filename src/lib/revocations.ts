/**
 * What a token check must refuse right now: locked accounts, revoked sessions, and the
 * sessions a known device opened through an automatic lock. Pure (no Fastify, no database):
 * Warden's account-state plugin keeps one, and so does the verifier of a relying service,
 * fed from Warden's revocation feed, so both refuse exactly the same tokens.
 */

/** The `until` of a lock without an end. */
export const PERMANENT = 8_640_000_000_000_000

/** The reason of a lock made by the lockout policy; any other reason (`admin`, ...) also blocks known devices. */
export const AUTO_LOCK = 'auto_threshold'

/** The changes this state follows (the state-change journal's kinds that affect tokens). */
export interface RevocationChange {
  kind: string
  userId?: string
  sessionId?: string
  /** of a lock: why it was made */
  reason?: string
  /** ms since the epoch */
  at: number
  /** ms since the epoch: the change matters until then */
  until: number
}

export interface Lock {
  /** ms since the epoch; PERMANENT for no end */
  until: number
  reason: string
}

/** Why a token of this user and session must be refused, or null. */
export type Refusal = 'token_revoked' | 'account_locked' | null

export class Revocations {
  /** user id -> locked until (ms) */
  private readonly locked = new Map<string, number>()
  /** user id -> why it is locked */
  private readonly reasons = new Map<string, string>()
  /** user id -> when the lock was made (ms) */
  private readonly lockedAt = new Map<string, number>()
  /** session id -> passes the automatic lock of its user until (ms) */
  private readonly admitted = new Map<string, number>()
  /** session id -> forget after (ms): when every access token of the session has expired */
  private readonly revoked = new Map<string, number>()

  /** Applies one change; applying a suffix of the history again, in order, leaves the same state. */
  apply (change: RevocationChange): void {
    switch (change.kind) {
      case 'lock':
        if (change.userId !== undefined) {
          this.locked.set(change.userId, change.until)
          // a lock journalled without its reason is treated as the strictest kind
          this.reasons.set(change.userId, change.reason ?? 'admin')
          this.lockedAt.set(change.userId, change.at)
        }
        break
      case 'unlock':
        if (change.userId !== undefined) this.forgetLock(change.userId)
        break
      case 'device_session':
        if (change.sessionId !== undefined) this.admitted.set(change.sessionId, change.until)
        break
      case 'session_revoked':
        if (change.sessionId !== undefined) this.revoked.set(change.sessionId, change.until)
        break
    }
  }

  /**
   * Why a token of `userId`'s session `sessionId` must be refused now, or null. A locked
   * account's session passes only an automatic lock, and only once admitted.
   */
  refusal (userId: string, sessionId: string): Refusal {
    if (this.revoked.size !== 0 && holds(this.revoked, sessionId)) return 'token_revoked'
    if (this.isLocked(userId) && !this.admittedThroughLock(userId, sessionId)) return 'account_locked'
    return null
  }

  isLocked (userId: string): boolean {
    if (this.locked.size === 0) return false
    if (holds(this.locked, userId)) return true
    if (this.reasons.has(userId)) this.forgetLock(userId)
    return false
  }

  /** The lock of a locked account (its end and reason), else undefined. */
  lockOf (userId: string): Lock | undefined {
    if (!this.isLocked(userId)) return undefined
    return { until: this.locked.get(userId) as number, reason: this.reasons.get(userId) ?? 'admin' }
  }

  /**
   * Every entry still in force at `now`, as changes that rebuild this state when applied in
   * order; `cap` may shorten each entry's `until` (a relying service needs a lock only as
   * long as tokens issued before it live).
   */
  entries (now: number, cap: (change: RevocationChange) => number = (c) => c.until): RevocationChange[] {
    this.sweep(now)
    const out: RevocationChange[] = []
    const push = (change: RevocationChange): void => {
      const until = Math.min(change.until, cap(change))
      if (until > now) out.push({ ...change, until })
    }
    for (const [userId, until] of this.locked) {
      push({ kind: 'lock', userId, reason: this.reasons.get(userId) ?? 'admin', at: this.lockedAt.get(userId) ?? now, until })
    }
    for (const [sessionId, until] of this.admitted) push({ kind: 'device_session', sessionId, at: now, until })
    for (const [sessionId, until] of this.revoked) push({ kind: 'session_revoked', sessionId, at: now, until })
    return out
  }

  /** Forgets what no longer matters at `now`; returns how many entries are left. */
  sweep (now: number): number {
    for (const [userId, until] of this.locked) if (until <= now) this.forgetLock(userId)
    for (const map of [this.admitted, this.revoked]) {
      for (const [key, until] of map) if (until <= now) map.delete(key)
    }
    return this.size
  }

  /** Forgets everything (a relying service's verifier, before a new snapshot). */
  clear (): void {
    for (const map of [this.locked, this.reasons, this.lockedAt, this.admitted, this.revoked]) map.clear()
  }

  get size (): number {
    return this.locked.size + this.admitted.size + this.revoked.size
  }

  private admittedThroughLock (userId: string, sessionId: string): boolean {
    return this.admitted.size !== 0 && this.reasons.get(userId) === AUTO_LOCK && holds(this.admitted, sessionId)
  }

  private forgetLock (userId: string): void {
    this.locked.delete(userId)
    this.reasons.delete(userId)
    this.lockedAt.delete(userId)
  }
}

/** Whether `key` is held in `entries` until a time still to come; forgets it once past. */
function holds (entries: Map<string, number>, key: string): boolean {
  const until = entries.get(key)
  if (until === undefined) return false
  if (until > Date.now()) return true
  entries.delete(key)
  return false
}
