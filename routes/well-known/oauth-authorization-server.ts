import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'

const Metadata = Type.Object({
  issuer: Type.String(),
  jwks_uri: Type.String(),
  token_endpoint: Type.String(),
  introspection_endpoint: Type.String(),
  revocation_endpoint: Type.String(),
  grant_types_supported: Type.Array(Type.String()),
  response_types_supported: Type.Array(Type.String()),
  token_endpoint_auth_methods_supported: Type.Array(Type.String()),
  introspection_endpoint_auth_methods_supported: Type.Array(Type.String()),
  revocation_endpoint_auth_methods_supported: Type.Array(Type.String()),
  access_token_signing_alg_values_supported: Type.Array(Type.String()),
  service_documentation: Type.String()
}, { description: 'RFC 8414 authorization server metadata' })

/**
 * RFC 8414 metadata, with absolute URLs under JWT_ISSUER. Logins are Warden's own
 * `POST /auth/login`, not an OAuth grant; the token endpoint is the refresh endpoint, which
 * takes `refresh_token` (form or JSON) and answers like an OAuth token endpoint.
 */
const metadata: FastifyPluginAsyncTypebox = async (fastify) => {
  const { issuer, algorithm } = fastify.config.jwt
  const base = issuer.replace(/\/+$/, '')
  const document = {
    issuer,
    jwks_uri: `${base}/.well-known/jwks.json`,
    token_endpoint: `${base}/auth/refresh`,
    introspection_endpoint: `${base}/oauth/introspect`,
    revocation_endpoint: `${base}/oauth/revoke`,
    grant_types_supported: ['refresh_token'],
    // no authorization endpoint: Warden has no redirect-based flows
    response_types_supported: [],
    token_endpoint_auth_methods_supported: ['none'],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'none'],
    // not registered by RFC 8414: the `alg` of Warden's access tokens
    access_token_signing_alg_values_supported: [algorithm],
    service_documentation: `${base}/docs`
  }

  fastify.get('/.well-known/oauth-authorization-server', {
    config: { auth: false },
    schema: {
      tags: ['well-known'],
      summary: 'OAuth 2.0 authorization server metadata (RFC 8414)',
      response: { 200: Metadata }
    }
  }, function (request, reply) {
    reply.header('cache-control', 'public, max-age=3600').send(document)
  })
}

export default metadata
