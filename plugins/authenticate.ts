import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { errors } from '../src/errors'
import { repeatsHeader } from '../src/lib/raw-headers'
import type { AuthContext } from './tokens'
import './account-state'

export type AuthenticateHook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook: a valid, unrevoked bearer token of an unlocked account, or a 401/403. */
    authenticate: AuthenticateHook
  }
  interface FastifyRequest {
    /** Set by the `authenticate` hook; null on routes that do not use it. */
    auth: AuthContext | null
  }
}

const BEARER = /^bearer +/i

/**
 * The bearer token of `Authorization: Bearer <token>`, or undefined when none is presented
 * (RFC 6750: a request without bearer credentials gets a challenge without error code).
 */
function bearerToken (header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  // The common spelling, with exactly one space, without the regular expression.
  if (header.startsWith('Bearer ') && header.charCodeAt(7) !== 32) return header.slice(7)
  const match = BEARER.exec(header)
  return match === null ? undefined : header.slice(match[0].length)
}

/**
 * The onRequest authentication hook. It is synchronous and answers from memory: the token
 * cache of the tokens plugin and the lock/revocation state of the account-state plugin.
 */
async function authenticate (fastify: FastifyInstance): Promise<void> {
  const { tokens, accountState } = fastify

  function verify (request: FastifyRequest): Error | null {
    const header = request.headers.authorization
    if (header !== undefined && repeatsHeader(request.raw.rawHeaders, 'authorization')) return new errors.AmbiguousCredentials()
    const token = bearerToken(header)
    if (token === undefined || token === '') return new errors.MissingToken()
    let auth: AuthContext
    try {
      auth = tokens.verifyAccessToken(token)
    } catch (err) {
      return err as Error
    }
    const denied = accountState.check(auth)
    if (denied !== null) return denied
    request.auth = auth
    return null
  }

  fastify.decorateRequest('auth', null)
  fastify.decorate('authenticate', function (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
    const err = verify(request)
    if (err === null) done()
    else done(err)
  })
}

export default fp(authenticate, { name: 'authenticate', fastify: '5.x', dependencies: ['tokens', 'account-state'] })
