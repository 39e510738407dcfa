import { Schema, type InferSchemaType, type Connection, type Model } from 'mongoose'

export const STATE_CHANGE_KINDS = ['lock', 'unlock', 'session_revoked', 'key_rotated', 'device_session'] as const

/**
 * The journal of account-state changes (locks, unlocks, revoked sessions, key rotations):
 * small by construction, because an entry expires (`until`) once it can no longer affect a
 * live token or a lock. Instances load the live entries at start and follow new ones.
 */
export const stateChangeSchema = new Schema({
  kind: { type: String, required: true, enum: STATE_CHANGE_KINDS },
  user_id: { type: String, default: null },
  session_id: { type: String, default: null },
  kid: { type: String, default: null },
  /** Why a lock was made (`auto_threshold`, `admin`, ...): known devices pass automatic locks only. */
  reason: { type: String, default: null },
  at: { type: Date, required: true },
  /** The entry matters until then (a lock's end; a revoked session's last access-token expiry). */
  until: { type: Date, required: true }
}, { collection: 'state_changes', versionKey: false, autoIndex: false, strict: 'throw' })

stateChangeSchema.index({ until: 1 }, { expireAfterSeconds: 0 })
stateChangeSchema.index({ user_id: 1, kind: 1 })

export type StateChangeDoc = InferSchemaType<typeof stateChangeSchema>
export type StateChangeModel = Model<StateChangeDoc>

export function stateChangeModel (connection: Connection): StateChangeModel {
  return connection.model<StateChangeDoc>('StateChange', stateChangeSchema)
}

/** How long the feed keeps a change: far longer than any poll interval. */
export const FEED_RETENTION_SECONDS = 600

/**
 * The feed instances poll for changes made elsewhere: the same entries as the journal (same
 * `_id`), stamped with the database server's clock when written (`posted_at`, so that every
 * instance reads one clock), and kept for a few minutes only, so that a poll reads a small
 * collection however many entries the journal holds.
 */
export const stateChangeFeedSchema = new Schema({
  _id: { type: Schema.Types.ObjectId, required: true },
  kind: { type: String, required: true, enum: STATE_CHANGE_KINDS },
  user_id: { type: String, default: null },
  session_id: { type: String, default: null },
  kid: { type: String, default: null },
  reason: { type: String, default: null },
  at: { type: Date, required: true },
  until: { type: Date, required: true },
  posted_at: { type: Date }
}, { collection: 'state_change_feed', versionKey: false, autoIndex: false, strict: 'throw' })

stateChangeFeedSchema.index({ posted_at: 1 }, { expireAfterSeconds: FEED_RETENTION_SECONDS })

export type StateChangeFeedDoc = InferSchemaType<typeof stateChangeFeedSchema>
export type StateChangeFeedModel = Model<StateChangeFeedDoc>

export function stateChangeFeedModel (connection: Connection): StateChangeFeedModel {
  return connection.model<StateChangeFeedDoc>('StateChangeFeed', stateChangeFeedSchema)
}
