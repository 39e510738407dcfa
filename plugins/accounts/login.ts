import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { errors } from '../../src/errors'
import { usernameKey } from '../../src/lib/username'
import type { Origin } from '../../src/lib/origin'
import { newSessionId } from '../stores/sessions'
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
    await attempt.succeeded(now, rehash)
    const sessionId = newSessionId()
    // Before any token exists: a known device's session passes the automatic lock in force.
    await attempt.admit(sessionId, now.getTime() + sessionTtlMs)
    const access = tokens.issueAccessToken({ id: userId, username: user.username, roles: user.roles }, sessionId)
    const [session, newDevice] = await Promise.all([
      sessions.create(userId, origin, sessionId),
      devicesOn && known === null ? devices.create(userId, origin, now) : null
    ])
    // Once the session exists: a login that could not open one (the database went away) is
    // answered 503, and no event says it succeeded.
    await loginEvents.record(origin, { type: 'login', outcome: 'success', userId, username: user.username, sessionId })
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
