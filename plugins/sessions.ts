import fp from 'fastify-plugin'
import { createHash, randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { Origin } from '../src/lib/origin'
import './config'
import './db'

export interface NewSession {
  sessionId: string
  /** Opaque, 256 bits; only its SHA-256 is stored. */
  refreshToken: string
}

export interface Sessions {
  /** Stores a new session; `sessionId` may be chosen beforehand with `newSessionId()`. */
  create(userId: string, origin: Origin, sessionId?: string): Promise<NewSession>
}

declare module 'fastify' {
  interface FastifyInstance {
    sessions: Sessions
  }
}

export function newSessionId (): string {
  return randomBytes(16).toString('base64url')
}

export function hashRefreshToken (token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}

/** Login sessions: the `sid` of every access token and the owner of its refresh token. */
async function sessions (fastify: FastifyInstance): Promise<void> {
  const { sessions: model } = fastify.db
  const ttlMs = fastify.config.jwt.refreshTokenTtl * 1000

  fastify.decorate('sessions', {
    async create (userId: string, origin: Origin, sessionId = newSessionId()) {
      const refreshToken = randomBytes(32).toString('base64url')
      const now = Date.now()
      await model.create({
        _id: sessionId,
        user_id: userId,
        refresh_token_hash: hashRefreshToken(refreshToken),
        created_at: new Date(now),
        expires_at: new Date(now + ttlMs),
        ip: origin.ip,
        user_agent: origin.userAgent
      })
      return { sessionId, refreshToken }
    }
  } satisfies Sessions)
}

export default fp(sessions, { name: 'sessions', fastify: '5.x', dependencies: ['config', 'db'] })
