import fp from 'fastify-plugin'
import underPressure from '@fastify/under-pressure'
import { getHeapStatistics } from 'node:v8'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { errors, withRetryAfter } from '../src/errors'
import './config'
import './metrics'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `false`: the route keeps answering while requests are shed (liveness, metrics). */
    loadShedding?: boolean
  }
}

/** Seconds a shed client is told to wait. */
export const SHED_RETRY_AFTER = 10
/** Seconds a client that meets a closing server is told to wait (another instance may take it at once). */
const CLOSING_RETRY_AFTER = 1
/** How often the event-loop delay and the heap are sampled (ms). */
const SAMPLE_INTERVAL_MS = 1000
/** Share of the V8 heap limit used when MAX_HEAP_USED_MB is unset. */
const DEFAULT_HEAP_SHARE = 0.9

/** The heap threshold in bytes: MAX_HEAP_USED_MB, or a share of the heap limit; 0 is off. */
export function heapThreshold (maxHeapUsedMb: number | undefined): number {
  if (maxHeapUsedMb === undefined) return Math.floor(getHeapStatistics().heap_size_limit * DEFAULT_HEAP_SHARE)
  return maxHeapUsedMb * 1024 * 1024
}

/**
 * Sheds load instead of collapsing under it: while the mean event-loop delay or the heap used is
 * above its threshold (sampled every second by @fastify/under-pressure), requests are answered
 * 503 `unavailable` with Retry-After, /health/ready included, so that a load balancer sends the
 * traffic elsewhere. Routes that declare `config.loadShedding: false` (liveness, metrics) still
 * answer. The sampler is registered in a scope of its own and its verdict read by one hook here:
 * a request pays one call while nothing is wrong. A request that arrives while the server closes
 * is answered 503 `unavailable` too.
 */
async function loadShedding (fastify: FastifyInstance): Promise<void> {
  const { maxEventLoopDelayMs, maxHeapUsedMb } = fastify.config.loadShedding
  const maxHeapUsedBytes = heapThreshold(maxHeapUsedMb)
  let underLoad: () => boolean = () => false
  let shed = 0

  if (maxEventLoopDelayMs > 0 || maxHeapUsedBytes > 0) {
    await fastify.register(async function sampler (scope) {
      await scope.register(underPressure, { maxEventLoopDelay: maxEventLoopDelayMs, maxHeapUsedBytes, sampleInterval: SAMPLE_INTERVAL_MS })
      underLoad = scope.isUnderPressure
    })
  }

  // While the server closes, a request that arrives on a connection kept alive is answered at once
  // (Fastify closes the connection after it), in the contract's shape: Fastify's own answer for it
  // is turned off in src/app.ts (`return503OnClosing`), its body is not the contract's.
  let closing = false
  fastify.addHook('preClose', function stopTakingWork (done) {
    closing = true
    done()
  })
  // One hook for both, on every request: while nothing is wrong it costs two reads.
  fastify.addHook('onRequest', function shedLoad (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
    if (closing) return done(withRetryAfter(new errors.Unavailable(), CLOSING_RETRY_AFTER))
    if (!underLoad() || request.routeOptions.config.loadShedding === false) return done()
    shed++
    done(withRetryAfter(new errors.Unavailable(), SHED_RETRY_AFTER))
  })

  fastify.metrics.level('under_pressure', '1 while requests are shed (event-loop delay or heap above its threshold), else 0', () => underLoad() ? 1 : 0)
  fastify.metrics.total('shed_requests_total', 'Requests answered 503 because the process was under pressure', () => shed)
}

export default fp(loadShedding, { name: 'load-shedding', fastify: '5.x', dependencies: ['config', 'metrics'] })
