import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { originOf } from '../../src/lib/origin'
import { LoginBody, TokenResponse } from '../../src/schemas/auth'
import { responses } from '../../src/schemas/common'

const login: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/auth/login', {
    config: { auth: false },
    schema: {
      tags: ['auth'],
      summary: 'Exchange a username and password for an access token and a refresh token',
      description: 'An unknown username and a wrong password get the same answer, in the same time.',
      body: LoginBody,
      response: responses({ 200: TokenResponse }, 400, 401, 403, 429)
    }
  }, async (request, reply) => {
    const tokens = await fastify.logins.login(request.body.username, request.body.password, originOf(request))
    return reply.header('cache-control', 'no-store').send(tokens)
  })
}

export default login
