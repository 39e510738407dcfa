import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { responses } from '../../src/schemas/common'
import { clientBasic, FeedEvent, FeedHeaders } from '../../src/schemas/oauth'
import { HEARTBEAT_MS } from '../../plugins/revocation-feed'

/**
 * The revocation feed for relying services (service clients, HTTP Basic): what their own
 * token checks must refuse, as a Server-Sent Events stream.
 */
const revocations: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/oauth/revocations', {
    config: { auth: false },
    onRequest: fastify.authenticateClient,
    schema: {
      tags: ['oauth'],
      summary: 'Follow revocations and locks (Server-Sent Events)',
      description: 'A `text/event-stream` that stays open. It starts with one `snapshot` event: `{access_token_ttl, clock_tolerance, entries}`, ' +
        'every entry a verifier must hold now; or, when `Last-Event-ID` names a change the feed still has (its last 10 minutes), with a ' +
        '`resumed` event `{access_token_ttl, clock_tolerance}` followed by the changes since. Then one `change` event per change, with its `id`. ' +
        'An entry is `{kind, user_id?, session_id?, kid?, reason?, at, until}` (seconds since the epoch): `session_revoked` (refuse tokens ' +
        'with this `sid`), `lock` (refuse tokens of this `sub`, except sessions admitted through an automatic lock), `unlock`, ' +
        '`device_session` (this `sid` passes the automatic lock of its user), `key_rotated` (reload the JWKS). Forget an entry after its `until`. ' +
        `A comment line is sent every ${HEARTBEAT_MS / 1000} s.`,
      security: clientBasic,
      headers: FeedHeaders,
      // An event stream for its 200 only: the 401 and 503 are JSON, like every other route's.
      response: responses({ 200: Type.Unsafe<string>({ description: 'Server-Sent Events', content: { 'text/event-stream': { schema: FeedEvent } } }) }, 401, 503)
    }
  }, async (request, reply) => {
    await fastify.revocationFeed.serve(reply, request.headers['last-event-id'])
    return reply
  })
}

export default revocations
