import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { errors } from '../../src/errors'
import { responses } from '../../src/schemas/common'

const Status = Type.Object({ status: Type.Literal('ok') })

const health: FastifyPluginAsyncTypebox = async (fastify) => {
  // Answers while requests are shed: an overloaded process needs less traffic, not a restart.
  fastify.get('/health/live', {
    config: { auth: false, loadShedding: false },
    schema: { tags: ['health'], summary: 'The process is up (also while requests are shed)', response: { 200: Status } }
  }, function (request, reply) {
    reply.send({ status: 'ok' })
  })

  fastify.get('/health/ready', {
    config: { auth: false },
    schema: { tags: ['health'], summary: 'The database answers and requests are not being shed (503 otherwise)', response: responses({ 200: Status }, 503) }
  }, async () => {
    if (!await fastify.db.ping()) throw new errors.NotReady()
    return { status: 'ok' as const }
  })
}

export default health
