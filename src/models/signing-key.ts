import { Schema, type InferSchemaType, type Connection, type Model } from 'mongoose'
import { KEY_STATES } from '../lib/key-lifecycle'

/**
 * A token signing key. `generation` counts keys per algorithm: the unique index on
 * (alg, generation) lets several instances start, or rotate, at once and agree on one key.
 * The newest active generation signs; retiring keys verify until `retire_at`; retired keys
 * are kept for the record, without their private part.
 */
export const signingKeySchema = new Schema({
  _id: { type: String, required: true }, // the kid
  alg: { type: String, required: true },
  generation: { type: Number, required: true },
  /** Absent on keys stored before key states existed: read as active. */
  state: { type: String, enum: KEY_STATES },
  /** Public JWK as published in the JWKS (without `kid`, `alg`, `use`). */
  public_jwk: { type: Schema.Types.Mixed, required: true },
  /** PKCS#8 PEM, when KEY_ENCRYPTION_SECRET is unset (or was, when the key was made). Never leaves the service. */
  private_pem: { type: String },
  /** The PKCS#8 PEM encrypted with KEY_ENCRYPTION_SECRET (src/lib/sealed-key.ts). */
  private_sealed: { type: Schema.Types.Mixed },
  created_at: { type: Date, required: true, default: () => new Date() },
  /** When a retiring key stops verifying. */
  retire_at: { type: Date },
  retired_at: { type: Date }
}, { collection: 'signing_keys', versionKey: false, autoIndex: false, strict: 'throw' })

signingKeySchema.index({ alg: 1, generation: -1 }, { unique: true })

export type SigningKey = InferSchemaType<typeof signingKeySchema>
export type SigningKeyModel = Model<SigningKey>

export function signingKeyModel (connection: Connection): SigningKeyModel {
  return connection.model<SigningKey>('SigningKey', signingKeySchema)
}
