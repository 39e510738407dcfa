import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { errors, withRetryAfter } from '../src/errors'
import './config'
import './redis'

type Check = (request: FastifyRequest) => Promise<{ isAllowed: boolean, isExceeded: boolean, ttlInSeconds: number }>

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * What a request of this route gets when the shared rate-limit or throttle store (Redis)
     * cannot be asked: `open` (the default) lets it through, `closed` answers 503. Login is closed.
     */
    whenLimitsUnavailable?: 'open' | 'closed'
  }
  interface FastifyInstance {
    limits: Limits
  }
}

export interface LimitStats {
  /** requests refused with 429, by tier */
  rejected: { global: number, auth: number }
  /** requests that met a failed shared store: answered 503, or let through */
  storeFailures: { failClosed: number, failOpen: number }
}

export interface Limits {
  /**
   * Reports a failed call to a shared store (Redis): logged once until it works again, and
   * counted. Returns the error to answer with when `failClosed`, else null (let it through).
   */
  storeFailed(err: unknown, failClosed: boolean, store: string): Error | null
  /** Reports a call to a shared store that worked (ends an outage in the log). */
  storeWorked(): void
  stats(): LimitStats
}

/** Whether a route belongs to the tighter tier: every POST under /auth/ (credentials, unlock, refresh...). */
export function isAuthRoute (method: string, url: string | undefined): boolean {
  return method === 'POST' && url !== undefined && url.startsWith('/auth/')
}

/**
 * Rate limits with @fastify/rate-limit, per client address (`request.ip`, which honours
 * TRUST_PROXY), in two tiers:
 *
 * - every request: RATE_LIMIT_MAX per RATE_LIMIT_WINDOW, counted in this instance's memory.
 *   It guards each instance against floods, and keeps the forward-auth check free of I/O;
 * - every POST under /auth/ (password checks, registrations, unlock mails): RATE_LIMIT_AUTH_MAX
 *   per window, counted in Redis when REDIS_URL is set, so that instances share the count.
 *
 * When Redis fails, a route that declares `whenLimitsUnavailable: 'closed'` (login) answers 503
 * and the others go through; either way the outage is logged once and counted.
 */
async function limits (fastify: FastifyInstance): Promise<void> {
  const { window, max, authMax } = fastify.config.rateLimit
  const timeWindow = window * 1000
  const stats: LimitStats = { rejected: { global: 0, auth: 0 }, storeFailures: { failClosed: 0, failOpen: 0 } }
  let outage = false

  const service: Limits = {
    storeFailed (err: unknown, failClosed: boolean, store: string) {
      if (failClosed) stats.storeFailures.failClosed++
      else stats.storeFailures.failOpen++
      if (!outage) {
        outage = true
        fastify.log.error({ err: { message: (err as Error).message }, store }, 'shared rate-limit store unavailable: logins answer 503, other routes are not limited until it is back')
      }
      return failClosed ? new errors.Unavailable() : null
    },
    storeWorked () {
      if (!outage) return
      outage = false
      fastify.log.info('shared rate-limit store available again')
    },
    stats: () => structuredClone(stats)
  }
  fastify.decorate('limits', service)

  /** A limiter of @fastify/rate-limit with its own store, registered in a scope of its own. */
  async function limiter (options: Parameters<typeof rateLimit>[1]): Promise<Check> {
    let check: Check | undefined
    await fastify.register(async function scope (child) {
      await child.register(rateLimit, { ...options, global: false })
      const create = child.createRateLimit()
      check = async (request) => await create(request) as Awaited<ReturnType<Check>>
    })
    return check as Check
  }

  const tooMany = (seconds: number): Error => withRetryAfter(new errors.TooManyAttempts(), Math.max(1, seconds))

  const redis = fastify.redis
  const globalCheck = max > 0 ? await limiter({ max, timeWindow, cache: 20_000 }) : undefined
  const authCheck = authMax > 0
    ? await limiter({ max: authMax, timeWindow, ...(redis === null ? {} : { redis, nameSpace: 'warden:rate-limit:auth:' }) })
    : undefined

  if (globalCheck !== undefined) {
    // Every request, found or not; before any route hook, so a flood is cut before its tokens are checked.
    fastify.addHook('onRequest', function globalRateLimit (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
      globalCheck(request).then((result) => {
        if (!result.isExceeded) return done()
        stats.rejected.global++
        done(tooMany(result.ttlInSeconds))
      }, done)
    })
  }

  if (authCheck !== undefined) {
    fastify.addHook('onRequest', async function authRateLimit (request: FastifyRequest) {
      if (!isAuthRoute(request.method, request.routeOptions.url)) return
      let result
      try {
        result = await authCheck(request)
      } catch (err) {
        const refusal = service.storeFailed(err, request.routeOptions.config.whenLimitsUnavailable === 'closed', 'rate-limit')
        if (refusal !== null) throw refusal
        return
      }
      if (redis !== null) service.storeWorked()
      if (result.isExceeded) {
        stats.rejected.auth++
        throw tooMany(result.ttlInSeconds)
      }
    })
  }
}

export default fp(limits, { name: 'rate-limit', fastify: '5.x', dependencies: ['config', 'redis'] })
