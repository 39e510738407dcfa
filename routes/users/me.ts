import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors } from '../../src/errors'
import { Profile } from '../../src/schemas/auth'
import { bearer, responses } from '../../src/schemas/common'
import type { AuthContext } from '../../plugins/tokens'

const me: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/users/me', {
    onRequest: fastify.authenticate,
    schema: {
      tags: ['users'],
      summary: 'The signed-in user',
      security: bearer,
      response: responses({ 200: Profile }, 401, 403)
    }
  }, async (request) => {
    const profile = await fastify.accounts.profile((request.auth as AuthContext).userId)
    if (profile === null) throw new errors.InvalidToken()
    return profile
  })
}

export default me
