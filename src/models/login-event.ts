import { Schema, type InferSchemaType, type Connection, type Model } from 'mongoose'

export const LOGIN_EVENT_TYPES = ['login', 'refresh', 'logout', 'logout_all', 'password_change', 'lock', 'unlock', 'unlock_request', 'register',
  // an administrator's change to an account (reason: what changed) and deletion of one; the admin is the actor
  'admin_update', 'admin_delete'] as const
export const LOGIN_EVENT_OUTCOMES = ['success', 'failure'] as const

/** One document per login attempt and per account action. Nothing secret is stored. */
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
  request_id: { type: String, required: true }
}, { collection: 'login_events', versionKey: false, autoIndex: false, strict: 'throw' })

loginEventSchema.index({ user_id: 1, at: -1 })

export type LoginEvent = InferSchemaType<typeof loginEventSchema>
export type LoginEventModel = Model<LoginEvent>

/** The retention TTL index is declared per connection: its length is configuration. */
export function loginEventModel (connection: Connection, retentionSeconds: number): LoginEventModel {
  const schema = loginEventSchema.clone()
  schema.index({ at: -1 }, { expireAfterSeconds: retentionSeconds })
  return connection.model<LoginEvent>('LoginEvent', schema)
}
