import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors } from '../../src/errors'
import { originOf } from '../../src/lib/origin'
import { SessionList, SessionParams } from '../../src/schemas/sessions'
import { Empty, bearer, responses } from '../../src/schemas/common'

const sessions: FastifyPluginAsyncTypebox = async (fastify) => {
  const { sessionLifecycle } = fastify

  fastify.get('/users/me/sessions', {
    config: { auth: true },
    schema: {
      tags: ['users'],
      summary: 'The signed-in user\'s live sessions ("your devices"), newest first',
      security: bearer,
      response: responses({ 200: SessionList }, 401, 403)
    }
  }, async (request) => {
    return { items: await sessionLifecycle.list(request.auth) }
  })

  fastify.delete('/users/me/sessions/:id', {
    config: { auth: true },
    schema: {
      tags: ['users'],
      summary: 'End one of the signed-in user\'s sessions',
      description: 'Its refresh token and access tokens stop working, on every instance.',
      security: bearer,
      params: SessionParams,
      response: responses({ 204: Empty }, 401, 403, 404)
    }
  }, async (request, reply) => {
    if (!await sessionLifecycle.end(request.auth, request.params.id, originOf(request))) {
      throw new errors.NotFound('No such session')
    }
    return reply.code(204).send(null)
  })
}

export default sessions
