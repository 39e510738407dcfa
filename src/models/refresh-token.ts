import { Schema, type InferSchemaType, type Connection, type Model } from 'mongoose'

/**
 * Every refresh token a session has been given, by the SHA-256 of the token (the `_id`, so a
 * token is found by its hash alone, with the primary key, on every MongoDB-compatible server).
 * The session document says which one is current. Documents leave with their session (TTL).
 */
export const refreshTokenSchema = new Schema({
  _id: { type: String, required: true },
  session_id: { type: String, required: true },
  expires_at: { type: Date, required: true }
}, { collection: 'refresh_tokens', versionKey: false, autoIndex: false, strict: 'throw' })

refreshTokenSchema.index({ expires_at: 1 }, { expireAfterSeconds: 0 })

/**
 * The refresh tokens that have been spent, by hash. Spending a token is inserting its hash
 * here: the unique `_id` lets exactly one of two concurrent refreshes of a token succeed, on
 * MongoDB and on servers whose conditional updates are not atomic (FerretDB 1.x). A token
 * found here and presented again is a reuse.
 */
export const spentRefreshTokenSchema = new Schema({
  _id: { type: String, required: true },
  session_id: { type: String, required: true },
  spent_at: { type: Date, required: true },
  expires_at: { type: Date, required: true }
}, { collection: 'spent_refresh_tokens', versionKey: false, autoIndex: false, strict: 'throw' })

spentRefreshTokenSchema.index({ expires_at: 1 }, { expireAfterSeconds: 0 })

export type RefreshToken = InferSchemaType<typeof refreshTokenSchema>
export type RefreshTokenModel = Model<RefreshToken>
export type SpentRefreshToken = InferSchemaType<typeof spentRefreshTokenSchema>
export type SpentRefreshTokenModel = Model<SpentRefreshToken>

export function refreshTokenModel (connection: Connection): RefreshTokenModel {
  return connection.model<RefreshToken>('RefreshToken', refreshTokenSchema)
}

export function spentRefreshTokenModel (connection: Connection): SpentRefreshTokenModel {
  return connection.model<SpentRefreshToken>('SpentRefreshToken', spentRefreshTokenSchema)
}
