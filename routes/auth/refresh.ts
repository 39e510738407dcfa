import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { originOf } from '../../src/lib/origin'
import { TokenResponse } from '../../src/schemas/auth'
import { RefreshBody } from '../../src/schemas/sessions'
import { responses } from '../../src/schemas/common'

const refresh: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/auth/refresh', {
    config: { auth: false },
    schema: {
      tags: ['auth'],
      summary: 'Exchange a refresh token for a new token pair',
      description: 'The refresh token is spent: the answer carries its successor. Presenting a spent refresh token ' +
        'again revokes its whole session (except a retry within REFRESH_REUSE_INTERVAL, which gets another new pair ' +
        'and makes the earlier answer\'s refresh token stop working). Roles and lock state are read afresh.',
      body: RefreshBody,
      response: responses({ 200: TokenResponse }, 400, 401, 403)
    }
  }, async (request, reply) => {
    const tokens = await fastify.sessionLifecycle.refresh(request.body.refresh_token, originOf(request))
    return reply.header('cache-control', 'no-store').send(tokens)
  })
}

export default refresh
