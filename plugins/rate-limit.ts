import fp from 'fastify-plugin'
import rateLimit, { normalizeIP } from '@fastify/rate-limit'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify'
import { errors, withRetryAfter } from '../src/errors'
import './config'
import './metrics'
import './redis'
import { hookList } from '../src/lib/route-hooks'

/** The in-memory store of @fastify/rate-limit (a fixed window per key in an LRU map). */
interface LocalRateStore {
  incr(key: string, callback: (err: Error | null, counted: { current: number, ttl: number }) => void, timeWindow: number, max: number): void
}
const LocalStore = require('@fastify/rate-limit/store/LocalStore') as new (continueExceeding: boolean, exponentialBackoff: boolean, size: number) => LocalRateStore
/** Client addresses counted at once by the global tier (least recently seen go first). */
const GLOBAL_KEYS = 20_000

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
/** IPv6 clients are counted per network of this prefix length: one host commonly holds a whole /64. */
export const IPV6_SUBNET = 64

/** The key a client address is counted under: IPv4 as is, IPv6 as its /64 (IPv4-mapped as IPv4). */
export function clientKey (ip: string): string {
  return normalizeIP(ip, IPV6_SUBNET)
}

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
  fastify.metrics.totals('rate_limited_requests_total', 'Requests refused with 429 by a rate limit, by tier (global: every route; auth: POST /auth/...)', 'tier', () => stats.rejected)
  fastify.metrics.totals('rate_limit_store_failures_total', 'Requests that met a failed shared rate-limit or throttle store (Redis), by what they got (refused: 503; admitted: let through)', 'outcome',
    () => ({ refused: stats.storeFailures.failClosed, admitted: stats.storeFailures.failOpen }))

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
  const authCheck = authMax > 0
    ? await limiter({ max: authMax, timeWindow, ipv6Subnet: IPV6_SUBNET, ...(redis === null ? {} : { redis, nameSpace: 'warden:rate-limit:auth:' }) })
    : undefined

  if (max > 0) {
    // @fastify/rate-limit's own in-memory store, driven directly: its hook is asynchronous, and
    // on the forward-auth path a promise per request costs more than the check it guards. The
    // store answers synchronously, so the hook stays synchronous.
    const store = new LocalStore(false, false, GLOBAL_KEYS)
    // Every request, found or not; before any route hook, so a flood is cut before its tokens are checked.
    fastify.addHook('onRequest', function globalRateLimit (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
      store.incr(clientKey(request.ip), (err, counted) => {
        if (err !== null || counted.current <= max) return done()
        stats.rejected.global++
        done(tooMany(Math.ceil(counted.ttl / 1000)))
      }, timeWindow, max)
    })
  }

  if (authCheck !== undefined) {
    const authRateLimit = async function authRateLimit (request: FastifyRequest): Promise<void> {
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
    }
    // A hook on those routes only: the others (the forward-auth check first) never wait on it.
    fastify.addHook('onRoute', (route: RouteOptions) => {
      if (typeof route.method !== 'string' || !isAuthRoute(route.method, route.url)) return
      const own = hookList(route.onRequest)
      route.onRequest = [authRateLimit, ...own]
    })
  }
}

export default fp(limits, { name: 'rate-limit', fastify: '5.x', dependencies: ['config', 'metrics', 'redis'] })
