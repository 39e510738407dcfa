import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import helmet from '@fastify/helmet'
import type { FastifyInstance } from 'fastify'
import { version } from '../package.json'
import { BODY_LIMIT, OPTIONAL_BODY } from '../src/schemas/common'
import './config'

interface DocumentOperation {
  [OPTIONAL_BODY]?: boolean
  responses?: Record<string, { description?: string }>
  requestBody?: { required?: boolean, content?: Record<string, { schema?: Schema & { additionalProperties?: unknown } }> }
}

const FORM = 'application/x-www-form-urlencoded'

interface Schema { anyOf?: Schema[], nullable?: boolean, enum?: unknown[], properties?: Record<string, Schema>, items?: Schema, description?: string }

/**
 * A form field is text: form encoding has no null, and `null` sent there is the string "null". The
 * form-encoded body therefore documents its properties without their null alternative (a JSON
 * body can still send null where its schema allows it).
 */
function withoutNull (schema: Schema): Schema {
  if (schema.anyOf !== undefined) {
    const rest = schema.anyOf.filter((s) => !(s.nullable === true && s.enum?.length === 1 && s.enum[0] === null))
    if (rest.length < schema.anyOf.length) {
      schema.description = schema.description === undefined ? 'A form cannot send null' : `${schema.description}; a form cannot send null`
    }
    if (rest.length === 1) {
      const { anyOf: _, ...own } = schema
      schema = { ...rest[0], ...own }
    } else {
      schema.anyOf = rest
    }
  }
  delete schema.nullable
  for (const [name, property] of Object.entries(schema.properties ?? {})) (schema.properties as Record<string, Schema>)[name] = withoutNull(property)
  if (schema.items !== undefined) schema.items = withoutNull(schema.items)
  return schema
}

/**
 * The document says what the service accepts: a body marked optional may be left out, and the
 * unknown properties of a body are stripped (Ajv's removeAdditional, src/app.ts), not refused, so
 * its schema does not say `additionalProperties: false`.
 */
function describeBodies (document: { paths?: Record<string, Record<string, DocumentOperation>> }): void {
  for (const ops of Object.values(document.paths ?? {})) {
    for (const op of Object.values(ops)) {
      if (op[OPTIONAL_BODY] === true && op.requestBody !== undefined) op.requestBody.required = false
      delete op[OPTIONAL_BODY]
      const content = op.requestBody?.content ?? {}
      for (const media of Object.values(content)) {
        if (media.schema?.additionalProperties !== false) continue
        delete media.schema.additionalProperties
        media.schema.description ??= 'Unknown properties are ignored'
      }
      // Any body may be over the limit (src/app.ts bodyLimit): 413 in the shape of the other errors.
      const invalid = op.responses?.['400']
      if (op.requestBody !== undefined && invalid !== undefined && op.responses?.['413'] === undefined) {
        (op.responses as Record<string, unknown>)['413'] = { ...invalid, description: `The body is larger than ${BODY_LIMIT / 1024} KiB` }
      }
      const form = content[FORM]
      // A media object of its own: the generator may share one between the content types.
      if (form?.schema !== undefined) content[FORM] = { ...form, schema: withoutNull(structuredClone(form.schema)) }
    }
  }
}

/** The body types every route accepts (JSON and forms, plugins/request-input.ts). */
const BODY_CONTENT_TYPES = ['application/json', FORM]

/** The OpenAPI 3 document, generated from the route schemas, at /docs/json; its UI at /docs. */
async function openapi (fastify: FastifyInstance): Promise<void> {
  await fastify.register(swagger, {
    // Each request body is documented in every content type the service accepts.
    transform ({ schema, url }) {
      if (schema?.body === undefined || (schema as { consumes?: string[] }).consumes !== undefined) return { schema, url }
      return { schema: { ...schema, consumes: BODY_CONTENT_TYPES } as typeof schema, url }
    },
    transformObject (documentObject) {
      const document = 'openapiObject' in documentObject ? documentObject.openapiObject : documentObject.swaggerObject
      describeBodies(document as Parameters<typeof describeBodies>[0])
      return document
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
        { name: 'health', description: 'Liveness and readiness probes, metrics' }
      ]
    }
  })
  if (!fastify.config.docs) return
  // The pages are an application in a browser: they get helmet's headers, a CSP without inline or
  // remote code (the UI needs none; its validator badge, which loads from elsewhere, is off) and no
  // framing. Registered in a context of their own, so the JSON API is left as it is.
  await fastify.register(async function documentation (docs) {
    await docs.register(helmet, {
      contentSecurityPolicy: {
        directives: {
          frameAncestors: ["'none'"],
          formAction: ["'self'"],
          // Served over plain HTTP on a development machine; TLS belongs to the proxy in front.
          upgradeInsecureRequests: null
        }
      },
      frameguard: { action: 'deny' },
      referrerPolicy: { policy: 'no-referrer' },
      // HSTS is the TLS-terminating proxy's to send, for the whole host.
      strictTransportSecurity: false
    })
    await docs.register(swaggerUi, { routePrefix: '/docs', uiConfig: { validatorUrl: null } })
  })
}

export default fp(openapi, { name: 'openapi', fastify: '5.x', dependencies: ['config'] })
