import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

/** The time as the session lifecycle sees it (ms since the epoch). */
export interface Clock {
  now(): number
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Session creation, refresh, idle and lifetime checks read the time here, so tests can move it. */
    clock: Clock
  }
}

export const systemClock: Clock = { now: () => Date.now() }

/** Decorates `clock`: the system clock unless the app was built with another one. */
async function clock (fastify: FastifyInstance, opts: { clock?: Clock }): Promise<void> {
  fastify.decorate('clock', opts.clock ?? systemClock)
}

export default fp(clock, { name: 'clock', fastify: '5.x' })
