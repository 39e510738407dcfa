import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { bearer, responses } from '../../src/schemas/common'

const ForwardAuthHeaders = Type.Object({
  'x-auth-user-id': Type.String(),
  'x-auth-username': Type.String(),
  'x-auth-roles': Type.String({ description: 'Comma-separated roles' })
})

/**
 * Forward-auth (nginx `auth_request`, Traefik ForwardAuth, Envoy ext_authz): 204 with the
 * bearer's identity in headers, or the authentication error. Answered from memory.
 */
const verify: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/auth/verify', {
    config: { auth: true },
    schema: {
      tags: ['auth'],
      summary: 'Check a bearer token (forward-auth)',
      security: bearer,
      response: responses({ 204: { ...Type.Null(), description: 'Valid token', headers: ForwardAuthHeaders } }, 401, 403)
    }
  }, function (request, reply) {
    const auth = request.auth
    reply.code(204).headers({
      'x-auth-user-id': auth.userId,
      'x-auth-username': auth.username,
      'x-auth-roles': auth.rolesHeader
    }).send()
  })
}

export default verify
