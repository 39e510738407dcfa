import fp from 'fastify-plugin'
import FindMyWay, { type HTTPMethod } from 'find-my-way'
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifySchema } from 'fastify'
import { Type } from '@sinclair/typebox'
import { errors, retryAfterOf, withRetryAfter, wireCode, wwwAuthenticate } from '../src/errors'
import { repeatsHeader } from '../src/lib/raw-headers'
import { ErrorResponse } from '../src/schemas/common'
import { isDatabaseUnreachable } from './db'

/**
 * The answer to a request that needs the database while it cannot be reached, with the seconds a
 * client is told to wait: the database is asked again every second.
 */
const UNAVAILABLE = withRetryAfter(new errors.Unavailable(), 1)

/** The request parts a route schema may validate (a mismatch is a 400). */
const VALIDATED_PARTS = ['body', 'querystring', 'params', 'headers'] as const

/** Fastify's own client errors, by code, and the wire code Warden answers them with. */
const FASTIFY_CLIENT_ERRORS: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'bad_request',
  FST_ERR_CTP_INVALID_JSON_BODY: 'bad_request',
  FST_ERR_RATE_LIMIT_EXCEEDED: 'too_many_attempts'
}

interface Described { status: number, code: string, message: string, retryAfter?: number }

/** The answer to `thrown`: an unreachable database is answered as UNAVAILABLE, whatever the driver threw. */
function describe (thrown: FastifyError): Described {
  const error = isDatabaseUnreachable(thrown) ? UNAVAILABLE : thrown
  return { ...wire(error), retryAfter: retryAfterOf(error) }
}

/** Status, wire code and message of an error, as the contract shapes them. */
function wire (error: FastifyError): Omit<Described, 'retryAfter'> {
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
 * A header value that is not printable ASCII. Node refuses control characters and anything above
 * U+00FF (the response then fails half-written), and sends U+0080-U+00FF as raw Latin-1 bytes that
 * no client decodes the same way; values carrying user data are percent-encoded (src/lib/header-value.ts).
 */
const UNSAFE_HEADER_VALUE = /[^\t\x20-\x7e]/

/** Removes the headers of `reply` whose values may not be sent as they are; returns their names. */
function removeUnsafeHeaders (reply: FastifyReply): string[] {
  const removed: string[] = []
  const headers = reply.getHeaders()
  for (const name in headers) {
    const value = headers[name]
    if (typeof value === 'string' ? UNSAFE_HEADER_VALUE.test(value) : Array.isArray(value) && value.some((v) => UNSAFE_HEADER_VALUE.test(v))) {
      reply.removeHeader(name)
      removed.push(name)
    }
  }
  return removed
}

/** Errors Node's HTTP parser reports before there is a request, by code: status, wire code, message. */
const CLIENT_ERRORS: Record<string, [number, string, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'request_timeout', 'The request was not received in time'],
  HPE_HEADER_OVERFLOW: [431, 'header_too_large', 'The request headers are too large']
}
const MALFORMED: [number, string, string] = [400, 'bad_request', 'Malformed HTTP request']

/**
 * Fastify's `clientErrorHandler` (Node's `clientError` event): errors met before a request exists,
 * such as a request not received in time or headers too large, answered in the contract shape
 * straight on the socket, which is then closed.
 */
export function clientErrorHandler (this: FastifyInstance, error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const [status, code, message] = CLIENT_ERRORS[error.code ?? ''] ?? MALFORMED
  this.log.debug({ err: error }, 'client error')
  // A response already under way cannot be replaced; the connection just ends.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage
  if (socket.writable && inFlight?.headersSent !== true) {
    const body = JSON.stringify({ error: code, message })
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroySoon()
}

/**
 * Fastify's `frameworkErrors`: errors Fastify meets while routing (a path that is not valid
 * percent-encoding, a parameter too long), before any error handler applies.
 */
export function frameworkErrors (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const { status, code, message } = describe(error)
  reply.code(status).send({ error: code, message })
}

/**
 * One response shape for every error: `{"error": "<code>", "message": "<text>"}`.
 * Client errors say what was wrong; server errors are logged and say nothing more.
 */
async function errorHandler (fastify: FastifyInstance): Promise<void> {
  fastify.addSchema(ErrorResponse)

  // A route that validates a part of the request answers 400 validation_error when it does not
  // match: that answer is in its documented responses whether or not the route lists it.
  fastify.addHook('onRoute', function (route) {
    const schema = route.schema as (FastifySchema & { response?: Record<string, unknown> }) | undefined
    if (schema?.response === undefined || !VALIDATED_PARTS.some((part) => schema[part] !== undefined)) return
    if (schema.response['400'] === undefined && schema.response['4xx'] === undefined) {
      schema.response = { ...schema.response, 400: Type.Ref(ErrorResponse) }
    }
  })

  fastify.setErrorHandler(function (error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
    const { status, code, message, retryAfter } = describe(error)
    // A 503 (the database or Redis away, not ready, shedding) is expected while it lasts: its
    // cause is logged once by its owner (the db plugin, the limits), not once per request.
    if (status >= 500 && status !== 503) request.log.error({ err: error }, 'request failed')
    const challenge = wwwAuthenticate(code, message, status)
    if (challenge !== undefined) reply.header('www-authenticate', challenge)
    if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter))
    return reply.code(status).send({ error: code, message })
  })

  // Every response, the API's included, tells browsers not to guess its content type. And a
  // header that cannot be written would fail the response after its status line is chosen (a 204
  // then loses the error body): it is caught here, before anything is written, and the request
  // answers 500 in the contract shape instead.
  fastify.addHook('onSend', function (request, reply, payload, done) {
    reply.header('x-content-type-options', 'nosniff')
    const removed = removeUnsafeHeaders(reply)
    if (removed.length === 0) return done(null, payload)
    done(new Error(`response headers with values that cannot be sent as they are: ${removed.join(', ')}`))
  })

  // RFC 9112: an HTTP/1.1 request has exactly one Host header (Node's own check, turned off in
  // src/app.ts, answers without a body; Node keeps the first of two and drops the second).
  fastify.addHook('onRequest', function (request, reply, done) {
    const raw = request.raw
    if (raw.headers.host === undefined) {
      if (raw.httpVersionMajor === 1 && raw.httpVersionMinor === 0) return done()
      return done(new errors.BadRequest('An HTTP/1.1 request needs a Host header'))
    }
    if (repeatsHeader(raw.rawHeaders, 'host')) return done(new errors.BadRequest('Send exactly one Host header'))
    // No route: answered now, before a body (a QUERY or DELETE may carry one) is read or refused.
    if (request.is404) return notFound(request, reply)
    done()
  })

  // Every served path and method, so that a known path asked with another method answers 405
  // with the methods it has (RFC 9110) rather than 404.
  const served = FindMyWay()
  const methods = new Set<HTTPMethod>()
  fastify.addHook('onRoute', function (route) {
    for (const method of (Array.isArray(route.method) ? route.method : [route.method]) as HTTPMethod[]) {
      methods.add(method)
      if (!served.hasRoute(method, route.url)) served.on(method, route.url, () => {})
    }
  })

  /** 405 with Allow when the path is served with other methods, else 404. */
  function notFound (request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const path = request.url.split('?')[0]
    const allowed = [...methods].filter((method) => served.find(method, path) !== null).sort()
    if (allowed.length > 0) {
      return reply.code(405).header('allow', allowed.join(', '))
        .send({ error: 'method_not_allowed', message: `Method ${request.method} is not allowed on ${path}` })
    }
    return reply.code(404).send({ error: 'not_found', message: `Route ${request.method} ${path} not found` })
  }
  fastify.setNotFoundHandler(notFound)
}

export default fp(errorHandler, { name: 'error-handler', fastify: '5.x' })
