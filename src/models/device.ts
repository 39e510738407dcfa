import { Schema, type InferSchemaType, type Connection, type Model } from 'mongoose'

/**
 * Known devices (NIST SP 800-63B 5.2.2): a browser or client that logged in successfully
 * holds a device token; failed logins that come with it count against that device only, so
 * an attacker elsewhere cannot lock its owner out. Only the token's SHA-256 is stored.
 */
export const deviceSchema = new Schema({
  _id: { type: String, required: true },
  user_id: { type: String, required: true },
  token_hash: { type: String, required: true },
  created_at: { type: Date, required: true },
  /** Forgotten DEVICE_TOKEN_TTL after its last successful login (TTL index, or a sweep). */
  last_used_at: { type: Date, required: true },
  ip: { type: String, default: null },
  user_agent: { type: String, default: null },
  /** Attempts counted since the device's last success or lock (counted before the password is checked). */
  failed_logins: { type: Number, default: 0 },
  /** Locks of this device since its last success: each one lasts twice as long. */
  locks: { type: Number, default: 0 },
  /** No attempt from this device is counted (or checked) before then. */
  blocked_until: { type: Date, default: null }
}, { collection: 'devices', versionKey: false, autoIndex: false, strict: 'throw' })

deviceSchema.index({ token_hash: 1 }, { unique: true })
deviceSchema.index({ user_id: 1, last_used_at: -1 })

export type DeviceDoc = InferSchemaType<typeof deviceSchema>

/** The expiry index is declared per connection: its length is configuration. */
export function deviceModel (connection: Connection, ttlSeconds: number): Model<DeviceDoc> {
  const schema = deviceSchema.clone()
  schema.index({ last_used_at: 1 }, { expireAfterSeconds: ttlSeconds })
  return connection.model<DeviceDoc>('Device', schema)
}
