import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { originOf } from '../../src/lib/origin'
import { LoginBody, TokenResponse } from '../../src/schemas/auth'
import { responses } from '../../src/schemas/common'

/** The cookie that carries a browser's device token; sent to the login route only. */
export const DEVICE_COOKIE = 'warden_device'

const login: FastifyPluginAsyncTypebox = async (fastify) => {
  const { knownDevices } = fastify.config
  fastify.post('/auth/login', {
    // Without its throttle and rate-limit counts, a login could be guessed at freely: refuse it instead.
    config: { auth: false, whenLimitsUnavailable: 'closed' },
    schema: {
      tags: ['auth'],
      summary: 'Exchange a username and password for an access token and a refresh token',
      description: 'An unknown username and a wrong password get the same answer, in the same time. ' +
        'A device token (the `device_token` of an earlier login, or its cookie) makes failures count against that device only.',
      body: LoginBody,
      response: responses({ 200: TokenResponse }, 400, 401, 403, 429, 503)
    }
  }, async (request, reply) => {
    const deviceToken = request.body.device_token ?? request.cookies[DEVICE_COOKIE]
    const tokens = await fastify.logins.login(request.body.username, request.body.password, originOf(request), deviceToken)
    if (tokens.device_token !== undefined) {
      reply.setCookie(DEVICE_COOKIE, tokens.device_token, {
        httpOnly: true,
        secure: true,
        sameSite: 'strict',
        path: '/auth/login',
        maxAge: knownDevices.ttl
      })
    }
    return reply.header('cache-control', 'no-store').send(tokens)
  })
}

export default login
