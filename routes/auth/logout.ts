import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { originOf } from '../../src/lib/origin'
import { LogoutBody } from '../../src/schemas/sessions'
import { Empty, OPTIONAL_BODY, bearer, responses } from '../../src/schemas/common'

const logout: FastifyPluginAsyncTypebox = async (fastify) => {
  const { sessionLifecycle } = fastify

  fastify.post('/auth/logout', {
    config: { auth: true },
    schema: {
      tags: ['auth'],
      summary: 'End the session of this access token',
      description: 'Its refresh token and every access token of the session stop working, on every instance. ' +
        'A `refresh_token`, when sent, must belong to the same session.',
      security: bearer,
      body: LogoutBody,
      [OPTIONAL_BODY]: true,
      response: responses({ 204: Empty }, 400, 401, 403)
    },
    // The body is optional: no body is an empty one.
    preValidation: (request, reply, done) => {
      request.body ??= {}
      done()
    }
  }, async (request, reply) => {
    await sessionLifecycle.logout(request.auth, originOf(request), request.body.refresh_token)
    return reply.code(204).send(null)
  })

  fastify.post('/auth/logout-all', {
    config: { auth: true },
    schema: {
      tags: ['auth'],
      summary: 'End every session of the signed-in user',
      description: 'Every refresh token and every access token already issued to the user stop working, on every instance.',
      security: bearer,
      response: responses({ 204: Empty }, 401, 403)
    }
  }, async (request, reply) => {
    await sessionLifecycle.logoutAll(request.auth, originOf(request))
    return reply.code(204).send(null)
  })
}

export default logout
