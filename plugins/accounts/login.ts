import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { errors } from '../../src/errors'
import { usernameKey } from '../../src/lib/username'
import type { Origin } from '../../src/lib/origin'
import { newSessionId } from '../stores/sessions'
import type { NewDevice } from '../stores/devices'
import '../passwords'
import '../tokens'
import '../login-events'
import '../stores/users'
import '../stores/sessions'
import '../stores/devices'
import '../lockout'
import './profiles'

export interface LoginResult {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  refresh_token: string
  /** The device token to send back at the next login (absent with KNOWN_DEVICES=false). */
  device_token?: string
}

export interface Logins {
  /**
   * Checks credentials and opens a session; records a `login` event either way. A valid
   * `deviceToken` of the user makes it a known-device login (see plugins/lockout.ts).
   */
  login(username: string, password: string, origin: Origin, deviceToken?: string): Promise<LoginResult>
}

declare module 'fastify' {
  interface FastifyInstance {
    logins: Logins
  }
}

/**
 * Password login: the brute-force gates (asked of the lockout plugin) before the password is
 * checked, then a new session, its tokens and a device token.
 */
async function logins (fastify: FastifyInstance): Promise<void> {
  const { users, sessions, devices, passwords, tokens, lockout, loginEvents, profiles, config } = fastify
  const devicesOn = config.knownDevices.enabled
  const sessionTtlMs = config.jwt.refreshTokenTtl * 1000

  /** Undoes what a refused login stored: its session is revoked (no token of it exists) and its new device forgotten. */
  async function discard (opening: Promise<[unknown, NewDevice | null]>, sessionId: string): Promise<void> {
    const [, device] = await opening.catch(() => [null, null] as const)
    await Promise.all([
      sessions.revoke(sessionId, new Date(Date.now())),
      device === null ? null : devices.remove(device.id)
    ]).catch((err: unknown) => {
      // the refusal is still what the client gets; the session has no token to be used with
      fastify.log.warn({ err: { message: (err as Error).message } }, 'the session of a refused login could not be ended')
    })
  }

  async function login (username: string, password: string, origin: Origin, deviceToken?: string): Promise<LoginResult> {
    const key = usernameKey(username)
    // a known device is not throttled: only an attempt without one can be refused before the look-up
    if (!devicesOn || deviceToken === undefined) await lockout.refuseThrottled(key, username, origin)
    const [user, device] = await Promise.all([
      users.findByUsernameKey(key),
      devicesOn && deviceToken !== undefined ? devices.findByToken(deviceToken) : null
    ])
    if (user === null) {
      await lockout.beginUnknown(key, username, origin)
      await passwords.verifyDummy(password)
      await loginEvents.record(origin, { type: 'login', outcome: 'failure', reason: 'unknown_user', username })
      throw new errors.InvalidCredentials()
    }
    const userId = user.id
    const known = device !== null && device.userId === userId ? device : null
    const attempt = known === null ? await lockout.beginAccount(user, key, origin) : await lockout.beginDevice(user, known, origin)
    if (!await passwords.verify(user.passwordHash, password)) {
      await loginEvents.record(origin, { type: 'login', outcome: 'failure', reason: 'bad_password', userId, username: user.username })
      await attempt.failed()
      throw new errors.InvalidCredentials()
    }

    const now = new Date(Date.now())
    const rehash = passwords.needsRehash(user.passwordHash) ? await passwords.hash(password) : undefined
    const sessionId = newSessionId()
    // The session (and a new device) are stored while the login is stamped: neither write waits
    // on the other. Nothing is handed out before the stamp succeeds; a login it refuses (a lock
    // that came in during the hash) ends that session and forgets that device.
    const opening = Promise.all([
      sessions.create(userId, origin, sessionId),
      devicesOn && known === null ? devices.create(userId, origin, now) : null
    ])
    opening.catch(() => {}) // awaited below; a failure must not go unhandled meanwhile
    try {
      await attempt.succeeded(now, rehash)
    } catch (err) {
      await discard(opening, sessionId)
      throw err
    }
    // Before any token exists: a known device's session passes the automatic lock in force.
    await attempt.admit(sessionId, now.getTime() + sessionTtlMs)
    const [session, newDevice] = await opening
    // Once the session exists: a login that could not open one (the database went away) is
    // answered 503, and no event says it succeeded.
    await loginEvents.record(origin, { type: 'login', outcome: 'success', userId, username: user.username, sessionId })
    const access = tokens.issueAccessToken({ id: userId, username: user.username, roles: user.roles }, sessionId)
    profiles.remember({ ...user, lastLoginAt: now })
    const result: LoginResult = { access_token: access.token, token_type: 'Bearer', expires_in: access.expiresIn, refresh_token: session.refreshToken }
    if (devicesOn) result.device_token = newDevice?.token ?? deviceToken
    return result
  }

  fastify.decorate('logins', { login } satisfies Logins)
}

export default fp(logins, {
  name: 'logins',
  fastify: '5.x',
  dependencies: ['passwords', 'tokens', 'lockout', 'login-events', 'users-store', 'sessions-store', 'devices-store', 'profiles']
})
