import { Schema, type InferSchemaType, type Connection, type Model } from 'mongoose'

/** Messages sent by the `log` notifier, kept so that a developer can read them. */
export const outboxSchema = new Schema({
  kind: { type: String, required: true },
  to: { type: String, required: true },
  subject: { type: String, required: true },
  text: { type: String, required: true },
  user_id: { type: String, default: null },
  at: { type: Date, required: true, default: () => new Date() }
}, { collection: 'outbox', versionKey: false, autoIndex: false, strict: 'throw' })

/** A week is plenty for a development outbox. */
outboxSchema.index({ at: 1 }, { expireAfterSeconds: 7 * 86400 })
outboxSchema.index({ to: 1, at: -1 })

export type OutboxDoc = InferSchemaType<typeof outboxSchema>

export function outboxModel (connection: Connection): Model<OutboxDoc> {
  return connection.model<OutboxDoc>('Outbox', outboxSchema)
}
