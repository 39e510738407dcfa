import { Schema, type InferSchemaType, type Connection, type Model } from 'mongoose'

/** Single-use self-service unlock tokens, stored as their SHA-256 only. */
export const unlockTokenSchema = new Schema({
  /** SHA-256 of the token (base64url) */
  _id: { type: String, required: true },
  user_id: { type: String, required: true },
  created_at: { type: Date, required: true },
  expires_at: { type: Date, required: true },
  used_at: { type: Date, default: null }
}, { collection: 'unlock_tokens', versionKey: false, autoIndex: false, strict: 'throw' })

/** Removed once expired (TTL index, or a sweep where the server has none). */
unlockTokenSchema.index({ expires_at: 1 }, { expireAfterSeconds: 0 })
unlockTokenSchema.index({ user_id: 1, created_at: -1 })

export type UnlockTokenDoc = InferSchemaType<typeof unlockTokenSchema>

export function unlockTokenModel (connection: Connection): Model<UnlockTokenDoc> {
  return connection.model<UnlockTokenDoc>('UnlockToken', unlockTokenSchema)
}
