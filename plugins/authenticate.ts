import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { errors } from '../src/errors'
import { missing, type Requirement, type RoleMap } from '../src/lib/rbac'
import { repeatsHeader } from '../src/lib/raw-headers'
import { bearerToken } from '../src/lib/bearer'
import type { AuthContext } from './tokens'
import './config'
import './account-state'

export type AuthenticateHook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void

/**
 * What a route declares in its `config.auth`: `false` for a public route, `true` for any
 * signed-in user, or the roles and permissions it needs. Every route under routes/ must say.
 */
export type RouteAuth = false | true | Requirement

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook: a valid, unrevoked bearer token of an unlocked account, or a 401/403. */
    authenticate: AuthenticateHook
    /** An onRequest hook (after `authenticate`) that answers 403 forbidden unless the bearer meets `requirement`. */
    authorize(requirement: Requirement): AuthenticateHook
    /** The role → permission map in force (RBAC_FILE, or the built-in map). Permissions come from here, never from a token. */
    roleMap: RoleMap
  }
  interface FastifyRequest {
    /** The bearer's context. Set by the `authenticate` hook: only read it on routes that declare `auth`. */
    auth: AuthContext
  }
  interface FastifyContextConfig {
    /** Who may call the route (see RouteAuth). */
    auth?: RouteAuth
  }
}

/**
 * The onRequest authentication hook. It is synchronous and answers from memory: the token
 * cache of the tokens plugin and the lock/revocation state of the account-state plugin.
 */
async function authenticate (fastify: FastifyInstance): Promise<void> {
  const { tokens, accountState } = fastify
  const roleMap = fastify.config.roles

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

  // A placeholder only: the hook sets a fresh context object on every authenticated request.
  fastify.decorateRequest('auth', null as unknown as AuthContext)
  fastify.decorate('roleMap', roleMap)
  fastify.decorate('authenticate', function (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
    const err = verify(request)
    if (err === null) done()
    else done(err)
  })
  fastify.decorate('authorize', function (requirement: Requirement): AuthenticateHook {
    return function authorizeHook (request, reply, done) {
      const lacking = missing(requirement, request.auth.roles, roleMap)
      if (lacking === undefined) done()
      else done(new errors.Forbidden(lacking))
    }
  })
}

export default fp(authenticate, { name: 'authenticate', fastify: '5.x', dependencies: ['config', 'tokens', 'account-state'] })
