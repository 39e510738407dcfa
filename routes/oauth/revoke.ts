import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyReply } from 'fastify'
import { originOf } from '../../src/lib/origin'
import { responses } from '../../src/schemas/common'
import { clientBasic, RevokeBody } from '../../src/schemas/oauth'
import type { TokenTypeHint } from '../../plugins/oauth'

const HINTS = new Set(['access_token', 'refresh_token'])

/**
 * Token revocation (RFC 7009). The token itself proves the right to revoke it, so a token
 * holder needs no client credentials; a service client may present HTTP Basic credentials,
 * which must then be valid. Unknown tokens get 200 too (RFC 7009 section 2.2).
 */
const revoke: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/oauth/revoke', {
    config: { auth: false },
    onRequest: fastify.authenticateClientIfPresent,
    schema: {
      tags: ['oauth'],
      summary: 'Revoke a refresh token or an access token (RFC 7009)',
      description: 'Ends the session the token belongs to, on every instance: its refresh token and access tokens stop working. Form-encoded or JSON.',
      security: [...clientBasic, {}],
      body: RevokeBody,
      response: responses({ 200: { ...Type.Null(), description: 'Revoked, or nothing to revoke (empty body)' } }, 400, 401)
    }
  }, async function (request, reply) {
    const { token, token_type_hint: hint } = request.body
    await fastify.oauth.revoke(token, HINTS.has(hint ?? '') ? hint as TokenTypeHint : undefined, originOf(request))
    // RFC 7009 2.2: the body is ignored; send none (send() without a payload skips serialisation)
    return (reply.header('cache-control', 'no-store').code(200) as FastifyReply).send()
  })
}

export default revoke
