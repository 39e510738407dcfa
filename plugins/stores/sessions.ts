import fp from 'fastify-plugin'
import { createHash, randomBytes } from 'node:crypto'
import { trusted } from 'mongoose'
import type { FastifyInstance } from 'fastify'
import type { Origin } from '../../src/lib/origin'
import { sessionModel } from '../../src/models/session'
import { refreshTokenModel, spentRefreshTokenModel } from '../../src/models/refresh-token'
import '../clock'
import '../config'
import { isDuplicateKey } from '../db'

export interface SessionRecord {
  id: string
  userId: string
  createdAt: Date
  expiresAt: Date
  revokedAt: Date | null
  ip: string | null
  userAgent: string | null
  /** The last login or refresh. */
  lastUsedAt: Date
}

/**
 * Where a presented refresh token stands in its session: the one to use now, the one the last
 * rotation spent (a client's retry may present it), or an older, spent one.
 */
export type RefreshTokenState = 'current' | 'previous' | 'spent'

export interface RefreshTokenMatch {
  session: SessionRecord
  state: RefreshTokenState
  /** When the token was spent (states `previous` and `spent`), else null. */
  spentAt: Date | null
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
  /** The session any refresh token it was ever given belongs to, and where that token stands; null for a token never issued. */
  matchRefreshToken(refreshToken: string): Promise<RefreshTokenMatch | null>
  /**
   * Spends `refreshToken`, the current token of `session`, and gives the session a new one.
   * Null when the token was already spent: of two concurrent rotations of one token exactly
   * one succeeds (the spending is an insert keyed by the token's hash).
   */
  rotate(session: SessionRecord, refreshToken: string, now: Date): Promise<string | null>
  /**
   * A retry of the rotation that spent `spentToken`: gives the session another new token in
   * place of the one that rotation issued (which stops working). Null when that rotation is no
   * longer the session's last one, or the session was revoked.
   */
  reissue(session: SessionRecord, spentToken: string, now: Date): Promise<string | null>
  /** Marks one session revoked; the record as it was, or null when there is no live one. */
  revoke(id: string, at: Date): Promise<SessionRecord | null>
  /** Marks every live session of a user revoked (but `exceptId`); returns their ids. */
  revokeAllOfUser(userId: string, at: Date, exceptId?: string): Promise<string[]>
  /** The user's sessions that are neither revoked, expired nor idle (SESSION_IDLE_TIMEOUT), newest first. */
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

/** A new opaque refresh token: 256 random bits. */
function newRefreshToken (): string {
  return randomBytes(32).toString('base64url')
}

interface SessionDoc {
  _id: string
  user_id: unknown
  created_at: Date
  expires_at: Date
  revoked_at?: Date | null
  ip?: string | null
  user_agent?: string | null
  last_used_at?: Date | null
  refresh_token_hash?: string
  previous_refresh_token_hash?: string | null
}

function toRecord (doc: SessionDoc): SessionRecord {
  return {
    id: doc._id,
    userId: String(doc.user_id),
    createdAt: doc.created_at,
    expiresAt: doc.expires_at,
    revokedAt: doc.revoked_at ?? null,
    ip: doc.ip ?? null,
    userAgent: doc.user_agent ?? null,
    lastUsedAt: doc.last_used_at ?? doc.created_at
  }
}


const PROJECTION = { refresh_token_hash: 0, previous_refresh_token_hash: 0 }

/**
 * Login sessions: the `sid` of every access token and the owner of its refresh tokens. The only
 * code that touches `sessions`, `refresh_tokens` and `spent_refresh_tokens`.
 */
async function sessionsStore (fastify: FastifyInstance): Promise<void> {
  const model = sessionModel(fastify.db.connection)
  const tokens = refreshTokenModel(fastify.db.connection)
  const spentTokens = spentRefreshTokenModel(fastify.db.connection)
  await fastify.db.ensureIndexes(model)
  await fastify.db.ensureIndexes(tokens)
  await fastify.db.ensureIndexes(spentTokens)
  const { clock } = fastify
  const ttlMs = fastify.config.jwt.refreshTokenTtl * 1000
  const idleMs = fastify.config.sessions.idleTimeout * 1000

  const live = (now: Date) => ({ revoked_at: null, expires_at: trusted({ $gt: now }) })

  /** A new refresh token for a session: its hash is recorded before the token is handed out. */
  async function issue (session: SessionRecord): Promise<{ token: string, hash: string }> {
    const token = newRefreshToken()
    const hash = hashRefreshToken(token)
    await tokens.create({ _id: hash, session_id: session.id, expires_at: session.expiresAt })
    return { token, hash }
  }

  async function findSession (id: string): Promise<SessionDoc | null> {
    return await model.findOne({ _id: id }).lean<SessionDoc>()
  }

  async function matchRefreshToken (refreshToken: string): Promise<RefreshTokenMatch | null> {
    const hash = hashRefreshToken(refreshToken)
    const issued = await tokens.findOne({ _id: hash }).lean<{ session_id: string }>()
    if (issued === null) return null
    const [doc, spent] = await Promise.all([
      findSession(issued.session_id),
      spentTokens.findOne({ _id: hash }).lean<{ spent_at: Date }>()
    ])
    if (doc === null) return null
    const session = toRecord(doc)
    if (spent !== null) {
      // The current hash is still this one for the moment between a rotation's spending and its update.
      const last = doc.previous_refresh_token_hash === hash || doc.refresh_token_hash === hash
      return { session, state: last ? 'previous' : 'spent', spentAt: spent.spent_at }
    }
    // Issued but neither spent nor current: superseded by a retry, never valid again.
    return doc.refresh_token_hash === hash ? { session, state: 'current', spentAt: null } : null
  }

  fastify.decorate('sessions', {
    async create (userId: string, origin: Origin, sessionId = newSessionId()) {
      const refreshToken = newRefreshToken()
      const hash = hashRefreshToken(refreshToken)
      const now = clock.now()
      const expiresAt = new Date(now + ttlMs)
      await Promise.all([
        model.create({
          _id: sessionId,
          user_id: userId,
          refresh_token_hash: hash,
          created_at: new Date(now),
          expires_at: expiresAt,
          last_used_at: new Date(now),
          ip: origin.ip,
          user_agent: origin.userAgent
        }),
        tokens.create({ _id: hash, session_id: sessionId, expires_at: expiresAt })
      ])
      return { sessionId, refreshToken }
    },
    async findById (id: string) {
      const doc = await model.findOne({ _id: id }, PROJECTION).lean<SessionDoc>()
      return doc === null ? null : toRecord(doc)
    },
    async findByRefreshToken (refreshToken: string) {
      const match = await matchRefreshToken(refreshToken)
      return match?.state === 'current' ? match.session : null
    },
    matchRefreshToken,
    async rotate (session: SessionRecord, refreshToken: string, now: Date) {
      const spent = hashRefreshToken(refreshToken)
      try {
        await spentTokens.create({ _id: spent, session_id: session.id, spent_at: now, expires_at: session.expiresAt })
      } catch (err) {
        if (isDuplicateKey(err)) return null
        throw err
      }
      const next = await issue(session)
      await model.updateOne({ _id: session.id }, {
        $set: { refresh_token_hash: next.hash, previous_refresh_token_hash: spent, last_used_at: now }
      })
      return next.token
    },
    async reissue (session: SessionRecord, spentToken: string, now: Date) {
      const spent = hashRefreshToken(spentToken)
      const doc = await findSession(session.id)
      if (doc === null || doc.revoked_at != null) return null
      const current = doc.refresh_token_hash
      if (doc.previous_refresh_token_hash !== spent && current !== spent) return null
      const next = await issue(session)
      await model.updateOne({ _id: session.id }, {
        $set: { refresh_token_hash: next.hash, previous_refresh_token_hash: spent, last_used_at: now }
      })
      // The token the retried rotation gave never reached the client, or is superseded: forget it.
      if (current !== undefined && current !== spent) await tokens.deleteOne({ _id: current })
      return next.token
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
    async listLive (userId: string, now = new Date(clock.now())) {
      const active = { last_used_at: trusted({ $gt: new Date(now.getTime() - idleMs) }) }
      const docs = await model.find({ user_id: userId, ...live(now), ...active }, PROJECTION).sort({ created_at: -1 }).lean<SessionDoc[]>()
      return docs.map(toRecord)
    }
  } satisfies SessionsStore)
}

export default fp(sessionsStore, { name: 'sessions-store', fastify: '5.x', dependencies: ['clock', 'config', 'db'] })
