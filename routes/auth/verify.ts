import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { bearer, responses } from '../../src/schemas/common'
import { headerValue } from '../../src/lib/header-value'

const ENCODING = 'percent-encoded UTF-8 (RFC 3986): bytes other than A-Z a-z 0-9 - . _ ~ ! * \' ( ) @ + are written %XX; decode with decodeURIComponent'

const ForwardAuthHeaders = Type.Object({
  'x-auth-user-id': Type.String({ description: `The user id (token \`sub\`), ${ENCODING}` }),
  'x-auth-username': Type.String({ description: `The username as shown, ${ENCODING}; ASCII usernames are sent unchanged` }),
  'x-auth-roles': Type.String({ description: `The roles, comma-separated, each one ${ENCODING}` })
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
      'x-auth-user-id': headerValue(auth.userId),
      'x-auth-username': headerValue(auth.username),
      'x-auth-roles': auth.rolesHeader
    }).send()
  })
}

export default verify
