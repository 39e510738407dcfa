import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { wwwAuthenticate } from '../errors'
import { bearerToken } from '../lib/bearer'
import { repeatsHeader } from '../lib/raw-headers'
import type { AccessClaims } from '../lib/access-claims'
import { createVerifier, VerifierError, type Verifier, type VerifierOptions } from './verifier'

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook: a valid bearer token that Warden has not revoked, or Warden's own 401/403 answer. */
    authenticate: (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void
    /** The verifier behind `authenticate` (status, close). */
    wardenVerifier: Verifier
  }
  interface FastifyRequest {
    /** The claims of the request's access token, set by `authenticate`. */
    warden: AccessClaims | null
  }
}

function refuse (reply: FastifyReply, err: VerifierError): void {
  const challenge = wwwAuthenticate(err.code, err.message, err.statusCode)
  if (challenge !== undefined) reply.header('www-authenticate', challenge)
  reply.code(err.statusCode).header('cache-control', 'no-store').send({ error: err.code, message: err.message })
}

/**
 * Warden's token checks as a Fastify plugin for a relying service: decorates
 * `fastify.authenticate`, an onRequest hook that answers as Warden's own (same codes, same
 * `WWW-Authenticate`), from memory for a token seen before. Registration waits for the keys
 * and the revocation feed's first snapshot (`readyTimeout`); closing the app stops the feed.
 */
async function wardenVerifier (fastify: FastifyInstance, options: VerifierOptions): Promise<void> {
  const verifier = createVerifier({
    logger: { info: (msg) => { fastify.log.info(msg) }, warn: (msg) => { fastify.log.warn(msg) } },
    ...options
  })
  fastify.addHook('onClose', () => verifier.close())
  await verifier.ready().catch(async (err: unknown) => {
    await verifier.close()
    throw err
  })

  fastify.decorate('wardenVerifier', verifier)
  fastify.decorateRequest('warden', null)
  fastify.decorate('authenticate', function (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
    const header = request.headers.authorization
    if (header !== undefined && repeatsHeader(request.raw.rawHeaders, 'authorization')) {
      refuse(reply, new VerifierError('invalid_token'))
      return
    }
    const token = bearerToken(header)
    if (token === undefined || token === '') {
      refuse(reply, new VerifierError('missing_token'))
      return
    }
    const known = verifier.check(token)
    if (known instanceof VerifierError) {
      refuse(reply, known)
    } else if (known !== undefined) {
      request.warden = known
      done()
    } else {
      verifier.verify(token).then((claims) => {
        request.warden = claims
        done()
      }, (err: unknown) => {
        if (err instanceof VerifierError) refuse(reply, err)
        else done(err as Error)
      })
    }
  })
}

export default fp(wardenVerifier, { name: 'warden-verifier', fastify: '5.x' })
