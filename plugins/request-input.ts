import fp from 'fastify-plugin'
import { isUtf8 } from 'node:buffer'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify'
import { errors } from '../src/errors'
import { parseForm } from '../src/lib/form-encoding'
import { declaredNames, describeProblem, flatNamesProblem, jsonProblem, type InputProblem } from '../src/lib/input-names'
import { hookList } from '../src/lib/route-hooks'

/** The error a problem of the request's input is answered with: 400, `validation_error` for bracket names, else `bad_request`. */
function refusal (part: string, problem: InputProblem): Error {
  const message = describeProblem(part, problem)
  return problem.kind === 'brackets' ? new errors.ValidationError(message) : new errors.BadRequest(message)
}

const NOT_UTF8 = 'The body is not valid UTF-8'

/**
 * Query strings on the routes that read one (a schema declares it): the same rules as form
 * bodies, checked on the text as sent, since the router keeps an undecodable `%FF` as it came.
 */
function queryCheck (declared: ReadonlySet<string>) {
  return function checkQuery (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const url = request.raw.url ?? ''
    const start = url.indexOf('?')
    if (start < 0) return done()
    const fields = parseForm(url.slice(start + 1))
    if (fields === null) return done(new errors.BadRequest('The query string is not valid percent-encoded UTF-8'))
    const problem = flatNamesProblem(Object.keys(fields), declared)
    done(problem === null ? undefined : refusal('querystring', problem))
  }
}

/** The names each body schema declares, worked out once per schema. */
const bodyNames = new WeakMap<object, ReadonlySet<string>>()
function declaredInBody (request: FastifyRequest): ReadonlySet<string> | undefined {
  const schema = request.routeOptions.schema?.body
  if (schema === undefined || schema === null || typeof schema !== 'object') return undefined
  let names = bodyNames.get(schema)
  if (names === undefined) bodyNames.set(schema, names = declaredNames(schema))
  return names
}

/**
 * What a request may carry, before any schema looks at it. Bodies are JSON or form-encoded, in
 * UTF-8 (an invalid byte is 400 bad_request, never read as U+FFFD, so two different byte strings
 * cannot be one password); JSON nested at most eight levels, without a lone surrogate, and, like
 * forms and query strings, without `__proto__`, `constructor` or `prototype` as a name. A form
 * field or query parameter in brackets on a name the route reads (`username[$ne]`, `roles[]`) is
 * 400 validation_error: Warden reads no bracket syntax, and the field would otherwise be missing or
 * read from another name without a word. Other bracketed names are unknown names, ignored as any.
 */
async function requestInput (fastify: FastifyInstance): Promise<void> {
  const parseJson = fastify.getDefaultJsonParser('error', 'error')
  // Fastify's built-in text/plain parser would turn any other text into a string that then fails
  // validation with 400 instead of 415.
  fastify.removeContentTypeParser(['application/json', 'text/plain'])

  fastify.addContentTypeParser('application/json', { parseAs: 'buffer' }, function (request, body: Buffer, done) {
    if (!isUtf8(body)) return done(new errors.BadRequest(NOT_UTF8))
    parseJson(request, body.toString('utf8'), (err, value) => {
      if (err !== null) return done(err)
      const problem = jsonProblem(value)
      if (problem !== null) return done(refusal('body', problem))
      done(null, value)
    })
  })

  fastify.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer' }, function (request, body: Buffer, done) {
    if (!isUtf8(body)) return done(new errors.BadRequest(NOT_UTF8))
    const fields = parseForm(body.toString('utf8'))
    if (fields === null) return done(new errors.BadRequest('The form body is not valid percent-encoded UTF-8'))
    const problem = flatNamesProblem(Object.keys(fields), declaredInBody(request))
    if (problem !== null) return done(refusal('body', problem))
    done(null, fields)
  })

  // Only the routes that read a query string pay for the check (the forward-auth path reads none).
  fastify.addHook('onRoute', (route: RouteOptions) => {
    if (route.schema?.querystring === undefined) return
    route.preValidation = [queryCheck(declaredNames(route.schema.querystring)), ...hookList(route.preValidation)]
  })
}

export default fp(requestInput, { name: 'request-input', fastify: '5.x' })
