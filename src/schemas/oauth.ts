import { Type } from '@sinclair/typebox'

/**
 * Longer than any token Warden issues: an access token with the most roles a user may have (32
 * of 64 characters) and the longest username is about 4,000 characters; a refresh token is 43.
 */
const TOKEN_MAX_LENGTH = 8192
/** RFC 7009 hints are registered names (`access_token`, `refresh_token`); unknown ones are ignored. */
const HINT_MAX_LENGTH = 64

export const IntrospectBody = Type.Object({
  token: Type.String({ minLength: 1, maxLength: TOKEN_MAX_LENGTH, description: 'The token to introspect (an access token)' }),
  token_type_hint: Type.Optional(Type.String({ maxLength: HINT_MAX_LENGTH, description: 'access_token or refresh_token; only access tokens are introspected' }))
}, { additionalProperties: false })

export const Introspection = Type.Object({
  active: Type.Boolean({ description: 'Whether the token would be accepted now; when false, nothing else is said' }),
  sub: Type.Optional(Type.String({ description: 'User id' })),
  exp: Type.Optional(Type.Integer()),
  iat: Type.Optional(Type.Integer()),
  scope: Type.Optional(Type.String()),
  roles: Type.Optional(Type.Array(Type.String())),
  client_id: Type.Optional(Type.String()),
  username: Type.Optional(Type.String()),
  token_type: Type.Optional(Type.String()),
  sid: Type.Optional(Type.String({ description: 'Session id' })),
  jti: Type.Optional(Type.String()),
  iss: Type.Optional(Type.String()),
  aud: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())]))
}, { description: 'RFC 7662 introspection response' })

export const RevokeBody = Type.Object({
  token: Type.String({ minLength: 1, maxLength: TOKEN_MAX_LENGTH, description: 'A refresh token or an access token' }),
  token_type_hint: Type.Optional(Type.String({ maxLength: HINT_MAX_LENGTH, description: 'refresh_token or access_token: which kind to look for first' }))
}, { additionalProperties: false })

/** HTTP Basic client authentication, for the OpenAPI document. */
export const clientBasic = [{ clientBasic: [] }]

export const FeedHeaders = Type.Object({
  'last-event-id': Type.Optional(Type.String({ maxLength: 64, description: 'The id of the last change received: resume after it' }))
})

/**
 * One event of the revocation feed (plugins/revocation-feed.ts), as a client's SSE parser hands it
 * over: the stream's schema in the document describes each event, not the text of the stream.
 */
export const FeedEvent = Type.Object({
  event: Type.Union([Type.Literal('snapshot'), Type.Literal('resumed'), Type.Literal('change')]),
  data: Type.String({ description: 'JSON: `{access_token_ttl, clock_tolerance, entries}` (snapshot), `{access_token_ttl, clock_tolerance}` (resumed), or one entry (change)' }),
  id: Type.Optional(Type.String({ description: 'The change id, on change events: Last-Event-ID resumes after it' }))
}, { description: 'One Server-Sent Event; comment lines (heartbeats) and the `retry` line carry no event' })
