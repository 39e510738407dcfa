import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'
import './config'

declare module 'fastify' {
  interface FastifyInstance {
    /** The shared Redis connection with `REDIS_URL` set; null in single-instance mode. */
    redis: Redis | null
  }
}

/**
 * Opens the Redis connection when `REDIS_URL` is set (shared rate limits and cross-instance
 * propagation); closed with the app. Commands fail fast while Redis is down instead of queueing,
 * so that callers can apply their own fallback.
 */
async function redis (fastify: FastifyInstance): Promise<void> {
  const url = fastify.config.redisUrl
  if (url === undefined) {
    fastify.decorate('redis', null)
    return
  }
  // Loaded only when used: single-instance starts skip the module.
  const { Redis: RedisClient } = await import('ioredis')
  const client: Redis = new RedisClient(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(times * 200, 2000)
  })
  let down = false
  client.on('error', (err: Error) => {
    if (!down) fastify.log.warn({ err: { message: err.message } }, 'redis unavailable')
    down = true
  })
  client.on('ready', () => {
    if (down) fastify.log.info('redis available again')
    down = false
  })
  fastify.addHook('onClose', async () => { client.disconnect() })
  // Commands fail fast until the connection is ready: wait for it (a little) so that the first
  // requests after a start do not meet a connection still opening.
  await new Promise<void>((resolve) => {
    const timer = setTimeout(ready, 2000)
    function ready (): void {
      clearTimeout(timer)
      client.off('ready', ready)
      resolve()
    }
    client.once('ready', ready)
  })
  fastify.decorate('redis', client)
}

export default fp(redis, { name: 'redis', fastify: '5.x', dependencies: ['config'] })
