import fp from 'fastify-plugin'
import { background } from '../src/lib/background'
import type { FastifyInstance } from 'fastify'
import { errors, withRetryAfter } from '../src/errors'
import { lockEnd, retryAfterSeconds, FOREVER, type LockoutPolicy } from '../src/lib/lockout'
import type { Origin } from '../src/lib/origin'
import { AUTO_LOCK, PERMANENT, type Lock } from './account-state'
import type { UserRecord, LoginCount } from './stores/users'
import type { DeviceRecord } from './stores/devices'
import { SYSTEM_ACTOR } from './login-events'
import { clientKey } from './rate-limit'
import './config'
import './account-state'
import './notifier'
import './throttle'
import './rate-limit'
import './stores/users'
import './stores/devices'

/** One login attempt that got through the gates: its password may now be checked. */
export interface Attempt {
  /** The password was wrong: the attempt stays counted, and may lock the account (or device). */
  failed(): Promise<void>
  /**
   * The password was right: the counts start over and the login is stamped (with a new hash
   * when `rehash` is given). Throws AccountLocked when a lock came in while it was checked.
   */
  succeeded(at: Date, rehash?: string): Promise<void>
  /** Lets the new session through the automatic lock in force, when the attempt came from a known device. */
  admit(sessionId: string, sessionEnd: number): Promise<void>
}

export interface Lockout {
  /**
   * Before the account is looked up: refuses (429, with its login event) an attempt of a
   * (username, client IP) pair this instance saw throttled and whose delay still runs, from
   * memory. A throttled pair thus costs no database read, and is answered while the database is away.
   */
  refuseThrottled(usernameKey: string, username: string, origin: Origin): Promise<void>
  /** A username that does not exist: throttled and stand-in-locked exactly as an account would be. */
  beginUnknown(usernameKey: string, username: string, origin: Origin): Promise<void>
  /** A password login: the (username, client IP) throttle, the account's lock, then one of its attempts. */
  beginAccount(user: UserRecord, usernameKey: string, origin: Origin): Promise<Attempt>
  /** A login with a known device's token: admin locks apply, automatic ones do not; failures count against the device. */
  beginDevice(user: UserRecord, device: DeviceRecord, origin: Origin): Promise<Attempt>
}

declare module 'fastify' {
  interface FastifyInstance {
    lockout: Lockout
  }
}

/** Throttled pairs remembered at most (the oldest go first); a forgotten one is asked of the gate again. */
const THROTTLED_PAIRS = 100_000

/**
 * Brute-force protection at login: the (username, client IP) throttle, automatic account locks
 * after LOCKOUT_THRESHOLD consecutive failures (counted atomically in MongoDB before each
 * password check), known devices that automatic locks do not block, and the stand-in lock of
 * unknown usernames. Locks are made through account-state; every refusal and lock is a login event.
 */
async function lockout (fastify: FastifyInstance): Promise<void> {
  const { users, devices, accountState, loginEvents, notifier, throttle, limits, config } = fastify
  const { threshold } = config.lockout
  const policy: LockoutPolicy = {
    threshold,
    durationMs: config.lockout.duration * 1000,
    maxDurationMs: config.lockout.maxDuration * 1000,
    maxTemporary: config.lockout.maxTemporary
  }
  // A device is never locked for good: its owner may not have another way in.
  const devicePolicy: LockoutPolicy = { ...policy, maxTemporary: undefined }
  const shared = fastify.redis !== null

  /** Notices sent after the response, awaited when the app closes. */
  const inBackground = background(fastify)

  /** Asks the throttle store; a login is refused (503) rather than let through unthrottled when it cannot. */
  async function gate<T> (ask: () => Promise<T>): Promise<T> {
    try {
      const answer = await ask()
      if (shared) limits.storeWorked()
      return answer
    } catch (err) {
      throw limits.storeFailed(err, true, 'throttle') as Error
    }
  }

  function lockedError (until: number): Error {
    return withRetryAfter(new errors.AccountLocked(), until >= PERMANENT ? undefined : retryAfterSeconds(until - Date.now()))
  }

  async function refuseLocked (user: UserRecord, origin: Origin, until: number, reason = 'account_locked'): Promise<never> {
    await loginEvents.record(origin, { type: 'login', outcome: 'failure', reason, userId: user.id, username: user.username })
    throw lockedError(until)
  }

  /**
   * Pairs seen throttled, with the account and the end of the delay. While a delay runs the gate
   * counts nothing and no instance can clear the pair (only a login it let through would), so
   * refusing from here answers exactly as the gate would.
   */
  const throttledPairs = new Map<string, { userId: string | null, until: number }>()
  const pairOf = (usernameKey: string, ip: string): string => `${clientKey(ip)}|${usernameKey}`

  async function refuseThrottle (userId: string | null, username: string, origin: Origin, retryAfterMs: number): Promise<never> {
    await loginEvents.record(origin, { type: 'login', outcome: 'failure', reason: 'throttled', userId, username })
    throw withRetryAfter(new errors.TooManyAttempts(), retryAfterSeconds(retryAfterMs))
  }

  async function throttled (usernameKey: string, username: string, userId: string | null, origin: Origin): Promise<void> {
    const verdict = await gate(() => throttle.enter(usernameKey, origin.ip))
    if (verdict.allowed) return
    const pair = pairOf(usernameKey, origin.ip)
    throttledPairs.delete(pair) // re-inserted last: the map's order is the eviction order
    if (throttledPairs.size >= THROTTLED_PAIRS) throttledPairs.delete(throttledPairs.keys().next().value as string)
    throttledPairs.set(pair, { userId, until: Date.now() + verdict.retryAfterMs })
    return refuseThrottle(userId, username, origin, verdict.retryAfterMs)
  }

  /** Locks the account once its count reached the threshold; the one caller that wins makes the lock. */
  async function autoLock (user: UserRecord, count: LoginCount, origin: Origin): Promise<void> {
    const end = lockEnd(policy, count.autoLocks + 1, Date.now())
    const until = end === FOREVER ? undefined : new Date(end)
    if (!await users.claimAutoLock(user.id, threshold, count.autoLocks, until ?? new Date(PERMANENT))) return
    await accountState.lock(user.id, { until, reason: AUTO_LOCK })
    await loginEvents.record(origin, { type: 'lock', outcome: 'success', reason: AUTO_LOCK, userId: user.id, username: user.username, actorId: SYSTEM_ACTOR })
    if (user.email !== null) inBackground(notifier.send(lockNotice(user, until)))
  }

  function lockNotice (user: UserRecord, until: Date | undefined) {
    const end = until === undefined ? 'until it is unlocked' : `until ${until.toISOString()}`
    return {
      kind: 'account_locked',
      to: user.email as string,
      userId: user.id,
      subject: 'Your account has been locked',
      text: [
        `Your account "${user.username}" at ${config.jwt.issuer} was locked after ${threshold} failed sign-in attempts in a row, ${end}.`,
        '',
        'Devices you have signed in from before can still sign in. If the attempts were yours, you can also ask for an unlock link.',
        'If they were not, someone may be guessing your password: change it once you are signed in.'
      ].join('\n')
    }
  }

  /** Why a reservation was refused: a lock (perhaps made by another instance), or a full count that must now lock. */
  async function refused (user: UserRecord, origin: Origin): Promise<never> {
    let count = await users.loginCount(user.id)
    if (count !== null && count.blockedUntil <= Date.now() && count.failedLogins >= threshold) {
      // Every attempt of the count is taken (a burst, or attempts that never finished): lock now.
      await autoLock(user, count, origin)
      count = await users.loginCount(user.id)
    }
    const lock: Lock | undefined = accountState.lockOf(user.id)
    return refuseLocked(user, origin, lock?.until ?? Math.max(count?.blockedUntil ?? 0, Date.now() + 1000))
  }

  fastify.decorate('lockout', {
    async refuseThrottled (usernameKey: string, username: string, origin: Origin) {
      const pair = pairOf(usernameKey, origin.ip)
      const known = throttledPairs.get(pair)
      if (known === undefined) return
      const left = known.until - Date.now()
      if (left <= 0) {
        throttledPairs.delete(pair)
        return
      }
      return refuseThrottle(known.userId, username, origin, left)
    },

    async beginUnknown (usernameKey: string, username: string, origin: Origin) {
      await throttled(usernameKey, username, null, origin)
      const verdict = await gate(() => throttle.enterUnknown(usernameKey))
      if (verdict.allowed) return
      await loginEvents.record(origin, { type: 'login', outcome: 'failure', reason: 'unknown_user', username })
      throw lockedError(verdict.retryAfterMs === FOREVER ? PERMANENT : Date.now() + verdict.retryAfterMs)
    },

    async beginAccount (user: UserRecord, usernameKey: string, origin: Origin) {
      await throttled(usernameKey, user.username, user.id, origin)
      const lock = accountState.lockOf(user.id)
      if (lock !== undefined) return refuseLocked(user, origin, lock.until)
      const count = await users.reserveLoginAttempt(user.id, threshold, new Date(Date.now()))
      if (count === null) return refused(user, origin)
      return {
        async failed () {
          if (count.failedLogins >= threshold) await autoLock(user, count, origin)
        },
        async succeeded (at: Date, rehash?: string) {
          if (!await users.completeLogin(user.id, at, rehash)) return refused(user, origin)
          await gate(() => throttle.clear(usernameKey, origin.ip))
        },
        async admit () {}
      }
    },

    async beginDevice (user: UserRecord, device: DeviceRecord, origin: Origin) {
      const blocksDevices = (): Lock | undefined => {
        const lock = accountState.lockOf(user.id)
        return lock !== undefined && lock.reason !== AUTO_LOCK ? lock : undefined
      }
      const adminLock = blocksDevices()
      if (adminLock !== undefined) return refuseLocked(user, origin, adminLock.until)
      const deviceRefused = async (): Promise<never> => {
        const count = await devices.count(device.id)
        if (count !== null && count.blockedUntil <= Date.now() && count.failedLogins >= threshold) await lockDevice(count)
        const now = await devices.count(device.id)
        return refuseLocked(user, origin, Math.max(now?.blockedUntil ?? 0, Date.now() + 1000), 'device_locked')
      }
      const lockDevice = async (count: LoginCount): Promise<void> => {
        const until = new Date(lockEnd(devicePolicy, count.autoLocks + 1, Date.now()))
        if (!await devices.claimLock(device.id, threshold, count.autoLocks, until)) return
        await loginEvents.record(origin, { type: 'lock', outcome: 'success', reason: 'device_threshold', userId: user.id, username: user.username, actorId: SYSTEM_ACTOR })
      }
      const count = await devices.reserveAttempt(device.id, threshold, new Date(Date.now()))
      if (count === null) return deviceRefused()
      return {
        async failed () {
          if (count.failedLogins >= threshold) await lockDevice(count)
        },
        async succeeded (at: Date, rehash?: string) {
          if (!await devices.recordSuccess(device.id, at)) return deviceRefused()
          const lock = blocksDevices()
          if (lock !== undefined) return refuseLocked(user, origin, lock.until)
          await users.recordLogin(user.id, at, rehash)
        },
        async admit (sessionId: string, sessionEnd: number) {
          await accountState.admitSession(user.id, sessionId, sessionEnd)
        }
      }
    }
  } satisfies Lockout)
}

export default fp(lockout, {
  name: 'lockout',
  fastify: '5.x',
  dependencies: ['config', 'account-state', 'login-events', 'notifier', 'throttle', 'rate-limit', 'users-store', 'devices-store']
})
