import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { originOf } from '../../src/lib/origin'
import { TokenResponse } from '../../src/schemas/auth'
import { PasswordChangeBody } from '../../src/schemas/sessions'
import { bearer, responses } from '../../src/schemas/common'

const password: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/auth/password', {
    config: { auth: true },
    schema: {
      tags: ['auth'],
      summary: 'Change the password',
      description: 'The password policy applies. Every session of the user ends, this one included; the answer ' +
        'is a token pair of a new session for the caller.',
      security: bearer,
      body: PasswordChangeBody,
      response: responses({ 200: TokenResponse }, 400, 401, 403)
    }
  }, async (request, reply) => {
    const { current_password: current, new_password: next } = request.body
    const tokens = await fastify.sessionLifecycle.changePassword(request.auth, current, next, originOf(request))
    return reply.header('cache-control', 'no-store').send(tokens)
  })
}

export default password
