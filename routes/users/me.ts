import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors } from '../../src/errors'
import { Profile } from '../../src/schemas/auth'
import { bearer, responses } from '../../src/schemas/common'

const me: FastifyPluginAsyncTypebox = async (fastify) => {
  const { profiles } = fastify
  fastify.get('/users/me', {
    config: { auth: true },
    schema: {
      tags: ['users'],
      summary: 'The signed-in user',
      security: bearer,
      response: responses({ 200: Profile }, 401, 403)
    }
  }, function (request, reply) {
    const userId = request.auth.userId
    const cached = profiles.cached(userId)
    if (cached !== undefined) return reply.send(cached)
    profiles.get(userId).then(
      (profile) => reply.send(profile ?? new errors.InvalidToken()),
      (err: Error) => reply.send(err)
    )
    return reply
  })
}

export default me
