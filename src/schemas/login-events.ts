import { Type } from '@sinclair/typebox'
import { LOGIN_EVENT_OUTCOMES, LOGIN_EVENT_TYPES } from '../models/login-event'
import { EXPORT_FORMATS } from '../lib/event-format'
import { DATE_TIME_MAX_LENGTH } from './common'

const Nullable = (description: string) => Type.Unsafe<string | null>({ type: ['string', 'null'], description })

const eventFields = {
  id: Type.String(),
  type: Type.Unsafe<typeof LOGIN_EVENT_TYPES[number]>({ type: 'string', enum: LOGIN_EVENT_TYPES }),
  outcome: Type.Unsafe<typeof LOGIN_EVENT_OUTCOMES[number]>({ type: 'string', enum: LOGIN_EVENT_OUTCOMES }),
  reason: Nullable('Why it failed (bad_password, unknown_user, account_locked, throttled...) or why a lock changed'),
  user_id: Nullable('The account concerned, when known'),
  username: Type.String({ description: 'As presented (attempts on unknown accounts included)' }),
  ip: Type.String(),
  user_agent: Nullable('Truncated to 512 characters'),
  at: Type.String({ format: 'date-time' }),
  session_id: Nullable('The session a successful login opened, or the one acted on'),
  actor_id: Nullable('Who acted, when not the account itself (an administrator)'),
  request_id: Type.String(),
  new_device: Type.Optional(Type.Boolean({ description: 'Successful logins: the first from this address and device family within the retention window' }))
}

/** A login event: the contract's shape. */
export const LoginEvent = Type.Object(eventFields, { title: 'LoginEvent' })

/** An event of the caller's own history: the event, and whether the session it opened still runs. */
export const HistoryItem = Type.Object({
  ...eventFields,
  session_active: Type.Optional(Type.Boolean({ description: 'Whether the session this login opened is still live (it can be ended)' }))
}, { title: 'LoginHistoryItem' })

const Limit = Type.Integer({ minimum: 1, maximum: 200, default: 50, description: 'Page size' })
const CursorParam = Type.String({ minLength: 1, maxLength: 64, description: 'next_cursor of the previous page' })
const TypeParam = Type.Unsafe<typeof LOGIN_EVENT_TYPES[number]>({ type: 'string', enum: LOGIN_EVENT_TYPES })
const OutcomeParam = Type.Unsafe<typeof LOGIN_EVENT_OUTCOMES[number]>({ type: 'string', enum: LOGIN_EVENT_OUTCOMES })

export const HistoryQuery = Type.Object({
  limit: Type.Optional(Limit),
  cursor: Type.Optional(CursorParam),
  type: Type.Optional(TypeParam),
  outcome: Type.Optional(OutcomeParam)
}, { additionalProperties: false })

const EventFilters = {
  user_id: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{24}$', description: 'Account id' })),
  username: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'Exactly as recorded' })),
  ip: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  type: Type.Optional(TypeParam),
  outcome: Type.Optional(OutcomeParam),
  from: Type.Optional(Type.String({ format: 'date-time', maxLength: DATE_TIME_MAX_LENGTH, description: 'Events at or after this time' })),
  to: Type.Optional(Type.String({ format: 'date-time', maxLength: DATE_TIME_MAX_LENGTH, description: 'Events before this time' }))
}

export const AdminEventsQuery = Type.Object({
  ...EventFilters,
  limit: Type.Optional(Limit),
  cursor: Type.Optional(CursorParam)
}, { additionalProperties: false })

export const ExportQuery = Type.Object({
  ...EventFilters,
  format: Type.Optional(Type.Unsafe<typeof EXPORT_FORMATS[number]>({ type: 'string', enum: EXPORT_FORMATS, default: 'ndjson' }))
}, { additionalProperties: false })

export const EventPage = Type.Object({
  items: Type.Array(LoginEvent),
  next_cursor: Nullable('Pass as `cursor` for the next page; null on the last page')
})

export const HistoryPage = Type.Object({
  items: Type.Array(HistoryItem),
  next_cursor: Nullable('Pass as `cursor` for the next page; null on the last page')
})
