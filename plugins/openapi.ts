import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import { version } from '../package.json'

/** The body types every route accepts (JSON, and forms through @fastify/formbody). */
export const BODY_CONTENT_TYPES = ['application/json', 'application/x-www-form-urlencoded']

/** The OpenAPI 3 document, generated from the route schemas, at /docs/json; its UI at /docs. */
async function openapi (fastify: FastifyInstance): Promise<void> {
  await fastify.register(swagger, {
    // Each request body is documented in every content type the service accepts.
    transform ({ schema, url }) {
      if (schema?.body === undefined || (schema as { consumes?: string[] }).consumes !== undefined) return { schema, url }
      return { schema: { ...schema, consumes: BODY_CONTENT_TYPES } as typeof schema, url }
    },
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Warden',
        description: 'Authentication service: accounts, JWT access tokens, sessions, forward-auth and JWKS.',
        version
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }
        }
      },
      tags: [
        { name: 'auth', description: 'Registration, login and token checks' },
        { name: 'users', description: 'The signed-in user' },
        { name: 'well-known', description: 'Discovery documents' },
        { name: 'health', description: 'Liveness and readiness probes' }
      ]
    }
  })
  await fastify.register(swaggerUi, { routePrefix: '/docs' })
}

export default fp(openapi, { name: 'openapi', fastify: '5.x' })
