import { Schema, type InferSchemaType, type Connection, type Model } from 'mongoose'

export const LOGIN_EVENT_TYPES = ['login', 'refresh', 'logout', 'logout_all', 'password_change', 'lock', 'unlock', 'unlock_request', 'register',
  // an administrator's change to an account (reason: what changed) and deletion of one; the admin is the actor
  'admin_update', 'admin_delete'] as const
export const LOGIN_EVENT_OUTCOMES = ['success', 'failure'] as const

/**
 * One document per login attempt and per account action. Nothing secret is stored. `_id` and
 * `at` are given by the writer before the first write attempt, so a replayed write is a
 * duplicate-key error rather than a second copy.
 */
export const loginEventSchema = new Schema({
  type: { type: String, required: true, enum: LOGIN_EVENT_TYPES },
  outcome: { type: String, required: true, enum: LOGIN_EVENT_OUTCOMES },
  reason: { type: String, default: null },
  user_id: { type: Schema.Types.ObjectId, default: null },
  username: { type: String, required: true },
  ip: { type: String, required: true },
  user_agent: { type: String, default: null },
  at: { type: Date, required: true, default: () => new Date() },
  session_id: { type: String, default: null },
  actor_id: { type: Schema.Types.ObjectId, default: null },
  request_id: { type: String, required: true },
  /** Coarse user-agent family ("Firefox on Linux"), kept on successful logins for the new-device check. */
  device: { type: String, default: null },
  /** Successful logins: whether the (IP, device) pair was new for the user; null when it could not be told. */
  new_device: { type: Boolean, default: null }
}, { collection: 'login_events', versionKey: false, autoIndex: false, strict: 'throw' })

/**
 * The query indexes. Every list is newest first, (at, _id) descending, with an equality prefix for
 * each filter, so that any of these the planner picks gives the order without an in-memory sort.
 */
export const QUERY_INDEXES: ReadonlyArray<Record<string, 1 | -1>> = [
  { user_id: 1, at: -1, _id: -1 },
  { user_id: 1, type: 1, at: -1, _id: -1 },
  { username: 1, at: -1, _id: -1 },
  { ip: 1, at: -1, _id: -1 },
  { type: 1, outcome: 1, at: -1, _id: -1 },
  { at: -1, _id: -1 },
  // the new-device check: one seek for "this user, this device, this address, recently"
  { user_id: 1, device: 1, ip: 1, at: -1 }
]

export type LoginEvent = InferSchemaType<typeof loginEventSchema>
export type LoginEventModel = Model<LoginEvent>

/**
 * The retention TTL index is declared per connection: its length is configuration. The query
 * indexes are left out where the server would not use them (`queryIndexes: false`).
 */
export function loginEventModel (connection: Connection, retentionSeconds: number, queryIndexes = true): LoginEventModel {
  const schema = loginEventSchema.clone()
  if (queryIndexes) for (const fields of QUERY_INDEXES) schema.index(fields)
  schema.index({ at: -1 }, { expireAfterSeconds: retentionSeconds })
  return connection.model<LoginEvent>('LoginEvent', schema)
}
