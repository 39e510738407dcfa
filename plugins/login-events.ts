import fp from 'fastify-plugin'
import { isValidObjectId } from 'mongoose'
import type { FastifyInstance } from 'fastify'
import type { Origin } from '../src/lib/origin'
import { loginEventModel, LOGIN_EVENT_TYPES, LOGIN_EVENT_OUTCOMES } from '../src/models/login-event'
import './config'
import './db'

export type LoginEventType = typeof LOGIN_EVENT_TYPES[number]
export type LoginEventOutcome = typeof LOGIN_EVENT_OUTCOMES[number]

/** What a caller says about an event; where, when and by which request are filled in. */
export interface LoginEventInput {
  type: LoginEventType
  outcome: LoginEventOutcome
  reason?: string
  userId?: string | null
  username: string
  sessionId?: string | null
  actorId?: string | null
}

/** A login event as the API shows it (the contract's shape). */
export interface LoginEvent {
  id: string
  type: LoginEventType
  outcome: LoginEventOutcome
  reason: string | null
  user_id: string | null
  username: string
  ip: string
  user_agent: string | null
  at: string
  session_id: string | null
  actor_id: string | null
  request_id: string
}

export interface LoginEventFilter {
  userId?: string
  username?: string
  type?: LoginEventType
  outcome?: LoginEventOutcome
}

export interface LoginEvents {
  /** Stores one event durably; resolves once the database has it. */
  record(origin: Origin, event: LoginEventInput): Promise<void>
  /** Events matching `filter`, newest first. */
  find(filter: LoginEventFilter, limit?: number): Promise<LoginEvent[]>
}

declare module 'fastify' {
  interface FastifyInstance {
    loginEvents: LoginEvents
  }
}

const MAX_USERNAME = 256

interface EventDoc {
  _id: unknown
  type: LoginEventType
  outcome: LoginEventOutcome
  reason?: string | null
  user_id?: unknown
  username: string
  ip: string
  user_agent?: string | null
  at: Date
  session_id?: string | null
  actor_id?: unknown
  request_id: string
}

function toEvent (doc: EventDoc): LoginEvent {
  return {
    id: String(doc._id),
    type: doc.type,
    outcome: doc.outcome,
    reason: doc.reason ?? null,
    user_id: doc.user_id == null ? null : String(doc.user_id),
    username: doc.username,
    ip: doc.ip,
    user_agent: doc.user_agent ?? null,
    at: doc.at.toISOString(),
    session_id: doc.session_id ?? null,
    actor_id: doc.actor_id == null ? null : String(doc.actor_id),
    request_id: doc.request_id
  }
}

/** The MongoDB-backed store of login attempts and account actions; the only code that touches `login_events`. */
async function loginEvents (fastify: FastifyInstance): Promise<void> {
  const model = loginEventModel(fastify.db.connection, fastify.config.loginEventRetention)
  await fastify.db.ensureIndexes(model)

  fastify.decorate('loginEvents', {
    async record (origin: Origin, event: LoginEventInput) {
      await model.create({
        type: event.type,
        outcome: event.outcome,
        reason: event.reason ?? null,
        user_id: event.userId ?? null,
        username: event.username.slice(0, MAX_USERNAME),
        ip: origin.ip,
        user_agent: origin.userAgent,
        at: new Date(),
        session_id: event.sessionId ?? null,
        actor_id: event.actorId ?? null,
        request_id: origin.requestId
      })
    },
    async find (filter: LoginEventFilter, limit = 50) {
      const query: Record<string, unknown> = {}
      if (filter.userId !== undefined) {
        if (!isValidObjectId(filter.userId)) return []
        query.user_id = filter.userId
      }
      if (filter.username !== undefined) query.username = filter.username
      if (filter.type !== undefined) query.type = filter.type
      if (filter.outcome !== undefined) query.outcome = filter.outcome
      const docs = await model.find(query).sort({ at: -1, _id: -1 }).limit(limit).lean<EventDoc[]>()
      return docs.map(toEvent)
    }
  } satisfies LoginEvents)
}

export default fp(loginEvents, { name: 'login-events', fastify: '5.x', dependencies: ['config', 'db'] })
