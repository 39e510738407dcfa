import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../src/config'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

/** Hands the configuration, read once by src/config.ts, to every plugin as `fastify.config`. */
async function config (fastify: FastifyInstance, opts: { config: Config }): Promise<void> {
  fastify.decorate('config', Object.freeze(opts.config))
}

export default fp(config, { name: 'config', fastify: '5.x' })
