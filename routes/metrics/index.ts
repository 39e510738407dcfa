import type { FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { errors } from '../../src/errors'
import { addressMatcher, LOOPBACK } from '../../src/lib/address-list'
import { responses } from '../../src/schemas/common'

/**
 * Prometheus metrics, for loopback addresses and the addresses of METRICS_ALLOW (or anyone, with
 * `any`). The address is `request.ip`: the socket's, or the client's as told by a proxy that
 * TRUST_PROXY believes. Kept answering while requests are shed, when they matter most.
 */
const metrics: FastifyPluginAsync = async (fastify) => {
  const { allow } = fastify.config.metrics
  const allowed = allow === 'any' ? () => true : addressMatcher([...LOOPBACK, ...allow])
  const { registry } = fastify.metrics

  function onlyAllowed (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    if (allowed(request.ip)) return done()
    done(new errors.Forbidden('a loopback address or one listed in METRICS_ALLOW'))
  }

  fastify.get('/metrics', {
    config: { auth: false, loadShedding: false },
    onRequest: onlyAllowed,
    schema: {
      tags: ['health'],
      summary: 'Prometheus metrics (loopback and METRICS_ALLOW only)',
      produces: ['text/plain'],
      response: { 200: { type: 'string', description: 'Prometheus text exposition format' }, ...responses({}, 403) }
    }
  }, async (request, reply) => {
    const text = await registry.metrics()
    return reply.header('content-type', registry.contentType).header('cache-control', 'no-store').send(text)
  })
}

export default metrics
