import { Readable } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, type Static } from '@sinclair/typebox'
import { errors } from '../../src/errors'
import { CONTENT_TYPES, decodeCursor, exportLines } from '../../src/lib/event-format'
import { AdminEventsQuery, EventPage, ExportQuery } from '../../src/schemas/login-events'
import { bearer, responses } from '../../src/schemas/common'
import type { LoginEventFilter } from '../../plugins/login-events'

type Filters = Static<typeof ExportQuery>

/** The store's filter for the query string's filters; a time range that ends before it starts is refused. */
function filterOf (q: Filters): LoginEventFilter {
  const filter: LoginEventFilter = {
    userId: q.user_id,
    username: q.username,
    ip: q.ip,
    type: q.type,
    outcome: q.outcome,
    from: q.from === undefined ? undefined : new Date(q.from),
    to: q.to === undefined ? undefined : new Date(q.to)
  }
  if (filter.from !== undefined && filter.to !== undefined && filter.from > filter.to) {
    throw new errors.ValidationError('querystring/from must not be after querystring/to')
  }
  return filter
}

const loginEventsAdmin: FastifyPluginAsyncTypebox = async (fastify) => {
  const { loginEvents } = fastify
  const auth = { permissions: ['admin:events:read'] }

  fastify.get('/admin/login-events', {
    config: { auth },
    schema: {
      tags: ['admin'],
      summary: 'Search login events, newest first',
      description: 'Filters combine (AND). `from` is inclusive, `to` exclusive. Pages follow `next_cursor`.',
      security: bearer,
      querystring: AdminEventsQuery,
      response: responses({ 200: EventPage }, 400, 401, 403)
    }
  }, async (request) => {
    const cursor = request.query.cursor === undefined ? null : decodeCursor(request.query.cursor)
    if (cursor === null && request.query.cursor !== undefined) throw new errors.ValidationError('querystring/cursor is not a cursor of this list')
    const page = await loginEvents.page(filterOf(request.query as Filters), { limit: request.query.limit, cursor })
    return { items: page.items, next_cursor: page.nextCursor }
  })

  fastify.get('/admin/login-events/export', {
    config: { auth },
    schema: {
      tags: ['admin'],
      summary: 'Export login events as NDJSON or CSV, streamed',
      description: 'The same filters as the search, every matching event, newest first (in storage order on FerretDB 1.x). CSV follows RFC 4180; a cell ' +
        'that a spreadsheet would run as a formula (starting with = + - @) is prefixed with a single quote.',
      security: bearer,
      querystring: ExportQuery,
      // The export's own types for its 200 only: its errors are JSON, like every other route's.
      response: responses({
        200: Type.Unsafe<string>({
          description: 'One event per line (CSV: a header line first)',
          content: {
            [CONTENT_TYPES.ndjson]: { schema: Type.String() },
            [CONTENT_TYPES.csv]: { schema: Type.String() }
          }
        })
      }, 400, 401, 403)
    }
  }, async (request, reply) => {
    // The type provider decodes the enum parameters as unknown; their schema has checked them.
    const query = request.query as Filters
    const format = query.format ?? 'ndjson'
    const filter = filterOf(query)
    const stamp = new Date().toISOString().replace(/[:.]/g, '-')
    return reply
      .header('content-type', CONTENT_TYPES[format])
      .header('content-disposition', `attachment; filename="login-events-${stamp}.${format}"`)
      .header('cache-control', 'no-store')
      .send(Readable.from(exportLines(loginEvents.stream(filter), format, 64 * 1024), { objectMode: false }))
  })
}

export default loginEventsAdmin
