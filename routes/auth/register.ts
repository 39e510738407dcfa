import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { originOf } from '../../src/lib/origin'
import { RegisterBody, PublicUser } from '../../src/schemas/auth'
import { responses } from '../../src/schemas/common'

const register: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/auth/register', {
    config: { auth: false },
    schema: {
      tags: ['auth'],
      summary: 'Create an account',
      description: 'Passwords: 8 to 256 characters, not the username, not a common password. Usernames are case-insensitive.',
      body: RegisterBody,
      response: responses({ 201: PublicUser }, 400, 403, 409)
    }
  }, async (request, reply) => {
    const user = await fastify.registration.signUp(request.body, originOf(request))
    return reply.code(201).send({ id: user.id, username: user.username, roles: user.roles })
  })
}

export default register
