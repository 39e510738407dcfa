import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { wireCode } from '../src/errors'
import type { Origin } from '../src/lib/origin'
import type { AuthContext } from './tokens'
import './account-state'
import './login-events'
import './stores/sessions'
import './stores/users'
import './tokens'

/** RFC 7662 introspection response: the claims of an active token, or `{active: false}` alone. */
export type Introspection = { active: false } | {
  active: true
  sub: string
  exp: number
  iat: number
  roles: string[]
  username: string
  token_type: 'Bearer'
  sid: string
  jti: string
  iss: string
  aud: string | string[]
}

export type TokenTypeHint = 'access_token' | 'refresh_token'

export interface OAuth {
  /** What an access token says, if it would be accepted now (signature, expiry, session, lock): answered from memory. */
  introspect(token: string): Introspection
  /**
   * Ends the session of a refresh token or an access token (RFC 7009): it stops working on
   * every instance. A token that is unknown, invalid or already dead is not an error.
   */
  revoke(token: string, hint: TokenTypeHint | undefined, origin: Origin): Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    oauth: OAuth
  }
}

const INACTIVE = { active: false } as const
/** Refresh tokens are 32 random bytes, base64url. */
const REFRESH_TOKEN = /^[A-Za-z0-9_-]{43}$/

/** The `iss` and `aud` of a token whose signature has been verified. */
function issuerAndAudience (token: string): { iss: string, aud: string | string[] } {
  const payload = token.split('.')[1]
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { iss: string, aud: string | string[] }
}

/** Token introspection (RFC 7662) and revocation (RFC 7009) for service clients and token holders. */
async function oauth (fastify: FastifyInstance): Promise<void> {
  const { tokens, accountState, sessions, users, loginEvents } = fastify

  /** The context of an access token that is accepted right now, or null. */
  function accepted (token: string): AuthContext | null {
    let auth: AuthContext
    try {
      auth = tokens.verifyAccessToken(token)
    } catch {
      return null
    }
    return accountState.check(auth) === null ? auth : null
  }

  async function endSession (sessionId: string, userId: string, username: string, origin: Origin): Promise<void> {
    if (!await accountState.revokeSession(sessionId)) return
    await loginEvents.record(origin, { type: 'logout', outcome: 'success', userId, username, sessionId })
  }

  async function revokeRefreshToken (token: string, origin: Origin): Promise<boolean> {
    if (!REFRESH_TOKEN.test(token)) return false
    const session = await sessions.findByRefreshToken(token)
    if (session === null) return false
    const user = await users.findById(session.userId)
    await endSession(session.id, session.userId, user?.username ?? '', origin)
    return true
  }

  async function revokeAccessToken (token: string, origin: Origin): Promise<boolean> {
    let auth: AuthContext
    try {
      auth = tokens.verifyAccessToken(token)
    } catch (err) {
      // an expired token is dead already; a bad one names nothing to revoke
      return wireCode(err as { code?: unknown }) === 'token_expired'
    }
    await endSession(auth.sessionId, auth.userId, auth.username, origin)
    return true
  }

  fastify.decorate('oauth', {
    introspect (token: string): Introspection {
      const auth = accepted(token)
      if (auth === null) return INACTIVE
      const { iss, aud } = issuerAndAudience(token)
      return {
        active: true,
        sub: auth.userId,
        exp: auth.expiresAt / 1000,
        iat: auth.issuedAt,
        roles: auth.roles,
        username: auth.username,
        token_type: 'Bearer',
        sid: auth.sessionId,
        jti: auth.tokenId,
        iss,
        aud
      }
    },
    async revoke (token: string, hint: TokenTypeHint | undefined, origin: Origin) {
      const attempts = hint === 'access_token' ? [revokeAccessToken, revokeRefreshToken] : [revokeRefreshToken, revokeAccessToken]
      for (const attempt of attempts) {
        if (await attempt(token, origin)) return
      }
    }
  } satisfies OAuth)
}

export default fp(oauth, {
  name: 'oauth',
  fastify: '5.x',
  dependencies: ['tokens', 'account-state', 'login-events', 'sessions-store', 'users-store']
})
