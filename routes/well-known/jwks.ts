import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { notModified } from '../../src/lib/http-cache'

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

/**
 * Verifiers cache the set for this long. A verifier that meets a token naming a key it does not
 * have refetches at once (jose, jwks-rsa and most libraries do), so a rotation does not wait
 * for the cache; a retired key lingering in a cache is harmless.
 */
const CACHE_CONTROL = 'public, max-age=300'

const jwks: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/.well-known/jwks.json', {
    config: { auth: false },
    schema: {
      tags: ['well-known'],
      summary: 'Public keys that verify Warden access tokens',
      description: 'Every key that may still verify a live token: the signing key and the keys replaced by a rotation until the tokens they signed have expired. Answers carry an ETag; a matching If-None-Match gets 304.',
      response: {
        200: { ...Jwks, headers: Type.Object({ etag: Type.String(), 'cache-control': Type.String() }) },
        304: { ...Type.Null(), description: 'Not modified: the cached set is current' }
      }
    }
  }, function (request, reply) {
    const ring = fastify.keys.ring()
    reply.header('cache-control', CACHE_CONTROL).header('etag', ring.etag)
    if (notModified(request.headers['if-none-match'], ring.etag)) reply.code(304).send(null)
    else reply.send(ring.jwks)
  })
}

export default jwks
