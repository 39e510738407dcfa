import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Static } from '@sinclair/typebox'
import { errors } from '../../src/errors'
import { decodeCursor } from '../../src/lib/event-format'
import { HistoryPage, HistoryQuery } from '../../src/schemas/login-events'
import { bearer, responses } from '../../src/schemas/common'

const loginHistory: FastifyPluginAsyncTypebox = async (fastify) => {
  const { loginEvents, sessions } = fastify
  fastify.get('/users/me/login-history', {
    config: { auth: true },
    schema: {
      tags: ['users'],
      summary: "The signed-in user's login history, newest first",
      description: 'Every attempt against the account, failed ones included (so that its owner can see someone guessing the password), ' +
        'and every account action. Successful logins name the session they opened and say whether it is still live. ' +
        'Pages follow `next_cursor`; events recorded meanwhile never shift a page.',
      security: bearer,
      querystring: HistoryQuery,
      response: responses({ 200: HistoryPage }, 400, 401, 403)
    }
  }, async (request) => {
    // The type provider decodes the enum parameters as unknown; their schema has checked them.
    const { limit, type, outcome } = request.query as Static<typeof HistoryQuery>
    const cursor = request.query.cursor === undefined ? null : decodeCursor(request.query.cursor)
    if (cursor === null && request.query.cursor !== undefined) throw new errors.ValidationError('querystring/cursor is not a cursor of this list')
    const userId = request.auth.userId
    const page = await loginEvents.page({ userId, type, outcome }, { limit, cursor })
    const withSession = page.items.some((e) => e.session_id !== null)
    const live = withSession ? new Set((await sessions.listLive(userId)).map((s) => s.id)) : new Set<string>()
    return {
      items: page.items.map((e) => (e.session_id !== null && e.type === 'login' ? { ...e, session_active: live.has(e.session_id) } : e)),
      next_cursor: page.nextCursor
    }
  })
}

export default loginHistory
