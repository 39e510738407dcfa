import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { errors } from '../../src/errors'
import { usernameKey } from '../../src/lib/username'
import type { Origin } from '../../src/lib/origin'
import { newSessionId } from '../stores/sessions'
import '../passwords'
import '../tokens'
import '../account-state'
import '../login-events'
import '../stores/users'
import '../stores/sessions'
import './profiles'

export interface LoginResult {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  refresh_token: string
}

export interface Logins {
  /** Checks credentials and opens a session; records a `login` event either way. */
  login(username: string, password: string, origin: Origin): Promise<LoginResult>
}

declare module 'fastify' {
  interface FastifyInstance {
    logins: Logins
  }
}

/** Password login: credentials, lock state (asked of account-state), a new session and its tokens. */
async function logins (fastify: FastifyInstance): Promise<void> {
  const { users, sessions, passwords, tokens, accountState, loginEvents, profiles } = fastify

  async function login (username: string, password: string, origin: Origin): Promise<LoginResult> {
    const user = await users.findByUsernameKey(usernameKey(username))
    if (user === null) {
      await passwords.verifyDummy(password)
      await loginEvents.record(origin, { type: 'login', outcome: 'failure', reason: 'unknown_user', username })
      throw new errors.InvalidCredentials()
    }
    const userId = user.id
    if (!await passwords.verify(user.passwordHash, password)) {
      await loginEvents.record(origin, { type: 'login', outcome: 'failure', reason: 'bad_password', userId, username: user.username })
      throw new errors.InvalidCredentials()
    }
    if (accountState.isLocked(userId)) {
      await loginEvents.record(origin, { type: 'login', outcome: 'failure', reason: 'account_locked', userId, username: user.username })
      throw new errors.AccountLocked()
    }

    const sessionId = newSessionId()
    const now = new Date()
    const rehash = passwords.needsRehash(user.passwordHash) ? await passwords.hash(password) : undefined
    const access = tokens.issueAccessToken({ id: userId, username: user.username, roles: user.roles }, sessionId)
    const [session] = await Promise.all([
      sessions.create(userId, origin, sessionId),
      users.recordLogin(userId, now, rehash),
      loginEvents.record(origin, { type: 'login', outcome: 'success', userId, username: user.username, sessionId })
    ])
    profiles.remember({ ...user, lastLoginAt: now })
    return { access_token: access.token, token_type: 'Bearer', expires_in: access.expiresIn, refresh_token: session.refreshToken }
  }

  fastify.decorate('logins', { login } satisfies Logins)
}

export default fp(logins, {
  name: 'logins',
  fastify: '5.x',
  dependencies: ['passwords', 'tokens', 'account-state', 'login-events', 'users-store', 'sessions-store', 'profiles']
})
