import fp from 'fastify-plugin'
import { createHash, randomBytes } from 'node:crypto'
import { trusted } from 'mongoose'
import type { FastifyInstance } from 'fastify'
import type { Origin } from '../../src/lib/origin'
import { sessionModel } from '../../src/models/session'
import '../config'
import '../db'

export interface SessionRecord {
  id: string
  userId: string
  createdAt: Date
  expiresAt: Date
  revokedAt: Date | null
  ip: string | null
  userAgent: string | null
}

export interface NewSession {
  sessionId: string
  /** Opaque, 256 bits; only its SHA-256 is stored. */
  refreshToken: string
}

export interface SessionsStore {
  /** Stores a new session for `userId`; `sessionId` may be chosen beforehand with `newSessionId()`. */
  create(userId: string, origin: Origin, sessionId?: string): Promise<NewSession>
  findById(id: string): Promise<SessionRecord | null>
  /** The session a refresh token belongs to (found by the token's hash alone), or null. */
  findByRefreshToken(refreshToken: string): Promise<SessionRecord | null>
  /** Marks one session revoked; the record as it was, or null when there is no live one. */
  revoke(id: string, at: Date): Promise<SessionRecord | null>
  /** Marks every live session of a user revoked (but `exceptId`); returns their ids. */
  revokeAllOfUser(userId: string, at: Date, exceptId?: string): Promise<string[]>
  /** The user's sessions that are neither revoked nor expired, newest first. */
  listLive(userId: string, now?: Date): Promise<SessionRecord[]>
}

declare module 'fastify' {
  interface FastifyInstance {
    sessions: SessionsStore
  }
}

export function newSessionId (): string {
  return randomBytes(16).toString('base64url')
}

export function hashRefreshToken (token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}

interface SessionDoc {
  _id: string
  user_id: unknown
  created_at: Date
  expires_at: Date
  revoked_at?: Date | null
  ip?: string | null
  user_agent?: string | null
}

function toRecord (doc: SessionDoc): SessionRecord {
  return {
    id: doc._id,
    userId: String(doc.user_id),
    createdAt: doc.created_at,
    expiresAt: doc.expires_at,
    revokedAt: doc.revoked_at ?? null,
    ip: doc.ip ?? null,
    userAgent: doc.user_agent ?? null
  }
}

const PROJECTION = { refresh_token_hash: 0 }

/** Login sessions: the `sid` of every access token and the owner of its refresh token. The only code that touches `sessions`. */
async function sessionsStore (fastify: FastifyInstance): Promise<void> {
  const model = sessionModel(fastify.db.connection)
  await fastify.db.ensureIndexes(model)
  const ttlMs = fastify.config.jwt.refreshTokenTtl * 1000

  const live = (now: Date) => ({ revoked_at: null, expires_at: trusted({ $gt: now }) })

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
    },
    async findById (id: string) {
      const doc = await model.findOne({ _id: id }, PROJECTION).lean<SessionDoc>()
      return doc === null ? null : toRecord(doc)
    },
    async findByRefreshToken (refreshToken: string) {
      const doc = await model.findOne({ refresh_token_hash: hashRefreshToken(refreshToken) }, PROJECTION).lean<SessionDoc>()
      return doc === null ? null : toRecord(doc)
    },
    async revoke (id: string, at: Date) {
      const doc = await model.findOneAndUpdate({ _id: id, ...live(at) }, { $set: { revoked_at: at } }).lean<SessionDoc>()
      return doc === null ? null : toRecord(doc)
    },
    async revokeAllOfUser (userId: string, at: Date, exceptId?: string) {
      const filter: Record<string, unknown> = { user_id: userId, ...live(at) }
      if (exceptId !== undefined) filter._id = trusted({ $ne: exceptId })
      const ids = (await model.find(filter, { _id: 1 }).lean<Array<{ _id: string }>>()).map((d) => d._id)
      if (ids.length > 0) await model.updateMany({ _id: trusted({ $in: ids }), revoked_at: null }, { $set: { revoked_at: at } })
      return ids
    },
    async listLive (userId: string, now = new Date()) {
      const docs = await model.find({ user_id: userId, ...live(now) }, PROJECTION).sort({ created_at: -1 }).lean<SessionDoc[]>()
      return docs.map(toRecord)
    }
  } satisfies SessionsStore)
}

export default fp(sessionsStore, { name: 'sessions-store', fastify: '5.x', dependencies: ['config', 'db'] })
