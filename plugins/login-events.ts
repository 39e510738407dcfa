import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Origin } from '../src/lib/origin'
import { loginEventModel, type LoginEventModel, LOGIN_EVENT_TYPES, LOGIN_EVENT_OUTCOMES } from '../src/models/login-event'
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

export interface LoginEvents {
  model: LoginEventModel
  /** Stores one event durably; resolves once the database has it. */
  record(origin: Origin, event: LoginEventInput): Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    loginEvents: LoginEvents
  }
}

const MAX_USERNAME = 256

/** The MongoDB-backed store of login attempts and account actions. */
async function loginEvents (fastify: FastifyInstance): Promise<void> {
  const model = loginEventModel(fastify.db.connection, fastify.config.loginEventRetention)
  await fastify.db.ensureIndexes(model)

  fastify.decorate('loginEvents', {
    model,
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
    }
  } satisfies LoginEvents)
}

export default fp(loginEvents, { name: 'login-events', fastify: '5.x', dependencies: ['config', 'db'] })
