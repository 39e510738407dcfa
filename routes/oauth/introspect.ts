import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { responses } from '../../src/schemas/common'
import { clientBasic, IntrospectBody, Introspection } from '../../src/schemas/oauth'

/**
 * Token introspection (RFC 7662) for service clients. Bearer authentication does not apply
 * (`auth: false`): the caller is a service client, authenticated with HTTP Basic.
 */
const introspect: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/oauth/introspect', {
    config: { auth: false },
    onRequest: fastify.authenticateClient,
    schema: {
      tags: ['oauth'],
      summary: 'Introspect an access token (RFC 7662)',
      description: 'Form-encoded or JSON `token`. `{"active": false}` for any token that would be refused now: bad, expired, revoked session, locked account. Answered from memory, like /auth/verify.',
      security: clientBasic,
      body: IntrospectBody,
      response: responses({ 200: Introspection }, 400, 401)
    }
  }, function (request, reply) {
    reply.header('cache-control', 'no-store').send(fastify.oauth.introspect(request.body.token))
  })
}

export default introspect
