import { Schema, type InferSchemaType, type Connection, type Model } from 'mongoose'

/**
 * A login session: what a refresh token belongs to, and the `sid` claim of every
 * access token issued from it. Documents expire with the session (TTL index).
 */
export const sessionSchema = new Schema({
  _id: { type: String, required: true },
  user_id: { type: Schema.Types.ObjectId, required: true },
  /** SHA-256 of the current refresh token (base64url); the token itself is never stored. */
  refresh_token_hash: { type: String, required: true },
  created_at: { type: Date, required: true, default: () => new Date() },
  expires_at: { type: Date, required: true },
  revoked_at: { type: Date, default: null },
  /** The last login or refresh: a session unused for SESSION_IDLE_TIMEOUT ends. */
  last_used_at: { type: Date, default: null },
  /** SHA-256 of the refresh token the last rotation spent: a client's retry is told apart from a theft. */
  previous_refresh_token_hash: { type: String, default: null },
  ip: { type: String, default: null },
  user_agent: { type: String, default: null }
}, { collection: 'sessions', versionKey: false, autoIndex: false, strict: 'throw' })

sessionSchema.index({ refresh_token_hash: 1 }, { unique: true })
sessionSchema.index({ user_id: 1, created_at: -1 })
sessionSchema.index({ expires_at: 1 }, { expireAfterSeconds: 0 })

export type Session = InferSchemaType<typeof sessionSchema>
export type SessionModel = Model<Session>

export function sessionModel (connection: Connection): SessionModel {
  return connection.model<Session>('Session', sessionSchema)
}
