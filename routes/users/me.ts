import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors } from '../../src/errors'
import { Profile } from '../../src/schemas/auth'
import { bearer, responses } from '../../src/schemas/common'
import type { AuthContext } from '../../plugins/tokens'

const me: FastifyPluginAsyncTypebox = async (fastify) => {
  const { accounts } = fastify
  fastify.get('/users/me', {
    onRequest: fastify.authenticate,
    schema: {
      tags: ['users'],
      summary: 'The signed-in user',
      security: bearer,
      response: responses({ 200: Profile }, 401, 403)
    }
  }, function (request, reply) {
    const userId = (request.auth as AuthContext).userId
    const cached = accounts.cachedProfile(userId)
    if (cached !== undefined) return reply.send(cached)
    accounts.profile(userId).then(
      (profile) => reply.send(profile ?? new errors.InvalidToken()),
      (err: Error) => reply.send(err)
    )
    return reply
  })
}

export default me
