import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'

const Jwks = Type.Object({
  keys: Type.Array(Type.Object({
    kty: Type.String(),
    kid: Type.String(),
    alg: Type.String(),
    use: Type.String(),
    n: Type.Optional(Type.String()),
    e: Type.Optional(Type.String()),
    crv: Type.Optional(Type.String()),
    x: Type.Optional(Type.String()),
    y: Type.Optional(Type.String())
  }))
}, { description: 'RFC 7517 JSON Web Key Set' })

const jwks: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/.well-known/jwks.json', {
    config: { auth: false },
    schema: {
      tags: ['well-known'],
      summary: 'Public keys that verify Warden access tokens',
      response: { 200: Jwks }
    }
  }, function (request, reply) {
    reply.header('cache-control', 'public, max-age=300').send(fastify.tokens.jwks)
  })
}

export default jwks
