import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { retryAfterOf, wireCode, wwwAuthenticate } from '../src/errors'
import { ErrorResponse } from '../src/schemas/common'

/** Fastify's own client errors, by code, and the wire code Warden answers them with. */
const FASTIFY_CLIENT_ERRORS: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'bad_request',
  FST_ERR_CTP_INVALID_JSON_BODY: 'bad_request',
  FST_ERR_RATE_LIMIT_EXCEEDED: 'too_many_attempts'
}

function describe (error: FastifyError): { status: number, code: string, message: string } {
  const code = wireCode(error)
  if (code !== undefined) return { status: error.statusCode ?? 500, code, message: error.message }
  if (error.validation !== undefined) return { status: 400, code: 'validation_error', message: error.message }
  const status = error.statusCode ?? 500
  if (status >= 400 && status < 500) {
    return { status, code: FASTIFY_CLIENT_ERRORS[error.code] ?? 'bad_request', message: error.message }
  }
  return { status: 500, code: 'internal_error', message: 'Internal server error' }
}

/**
 * One response shape for every error: `{"error": "<code>", "message": "<text>"}`.
 * Client errors say what was wrong; server errors are logged and say nothing more.
 */
async function errorHandler (fastify: FastifyInstance): Promise<void> {
  fastify.addSchema(ErrorResponse)

  fastify.setErrorHandler(function (error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
    const { status, code, message } = describe(error)
    if (status >= 500) request.log.error({ err: error }, 'request failed')
    const challenge = wwwAuthenticate(code, message, status)
    if (challenge !== undefined) reply.header('www-authenticate', challenge)
    const retryAfter = retryAfterOf(error)
    if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter))
    return reply.code(status).send({ error: code, message })
  })

  fastify.setNotFoundHandler(function (request: FastifyRequest, reply: FastifyReply) {
    return reply.code(404).send({ error: 'not_found', message: `Route ${request.method} ${request.url.split('?')[0]} not found` })
  })
}

export default fp(errorHandler, { name: 'error-handler', fastify: '5.x' })
