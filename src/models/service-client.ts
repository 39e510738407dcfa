import { Schema, type InferSchemaType, type Connection, type Model } from 'mongoose'

/**
 * A service client: another service that authenticates to Warden with HTTP Basic (client id
 * and secret) to introspect or revoke tokens. Only the SHA-256 of the secret is stored.
 */
export const serviceClientSchema = new Schema({
  _id: { type: String, required: true }, // the client id
  name: { type: String, required: true },
  /** SHA-256 of the secret (base64url). The secret is random (256 bits): a fast hash is enough. */
  secret_hash: { type: String, required: true },
  created_at: { type: Date, required: true, default: () => new Date() }
}, { collection: 'service_clients', versionKey: false, autoIndex: false, strict: 'throw' })

serviceClientSchema.index({ name: 1 }, { unique: true })

export type ServiceClient = InferSchemaType<typeof serviceClientSchema>
export type ServiceClientModel = Model<ServiceClient>

export function serviceClientModel (connection: Connection): ServiceClientModel {
  return connection.model<ServiceClient>('ServiceClient', serviceClientSchema)
}
