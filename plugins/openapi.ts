import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import { version } from '../package.json'

/** The OpenAPI 3 document, generated from the route schemas, at /docs/json; its UI at /docs. */
async function openapi (fastify: FastifyInstance): Promise<void> {
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Warden',
        description: 'Authentication service: accounts, JWT access tokens, sessions, forward-auth and JWKS.',
        version
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          clientBasic: { type: 'http', scheme: 'basic', description: 'Service client id and secret (warden client create)' }
        }
      },
      tags: [
        { name: 'auth', description: 'Registration, login and token checks' },
        { name: 'users', description: 'The signed-in user' },
        { name: 'admin', description: 'Account administration: each route needs an admin permission' },
        { name: 'well-known', description: 'Discovery documents' },
        { name: 'oauth', description: 'Token introspection and revocation for other services' },
        { name: 'health', description: 'Liveness and readiness probes' }
      ]
    }
  })
  await fastify.register(swaggerUi, { routePrefix: '/docs' })
}

export default fp(openapi, { name: 'openapi', fastify: '5.x' })
