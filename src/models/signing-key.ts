import { Schema, type InferSchemaType, type Connection, type Model } from 'mongoose'

/**
 * A token signing key. `generation` counts keys per algorithm: the unique index on
 * (alg, generation) lets several instances start at once and agree on one key.
 * The newest generation signs; every key still listed may verify.
 */
export const signingKeySchema = new Schema({
  _id: { type: String, required: true }, // the kid
  alg: { type: String, required: true },
  generation: { type: Number, required: true },
  /** Public JWK as published in the JWKS (without `kid`, `alg`, `use`). */
  public_jwk: { type: Schema.Types.Mixed, required: true },
  /** PKCS#8 PEM. Never leaves the service. */
  private_pem: { type: String, required: true },
  created_at: { type: Date, required: true, default: () => new Date() }
}, { collection: 'signing_keys', versionKey: false, autoIndex: false, strict: 'throw' })

signingKeySchema.index({ alg: 1, generation: -1 }, { unique: true })

export type SigningKey = InferSchemaType<typeof signingKeySchema>
export type SigningKeyModel = Model<SigningKey>

export function signingKeyModel (connection: Connection): SigningKeyModel {
  return connection.model<SigningKey>('SigningKey', signingKeySchema)
}
