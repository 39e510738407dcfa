import { Schema, type InferSchemaType, type Connection, type Model } from 'mongoose'

/**
 * One-time data migrations that have run on this database, by name: a start-up asks by `_id`
 * (the primary key, an index on every server) instead of scanning a collection for documents
 * that still need the change.
 */
export const migrationSchema = new Schema({
  _id: { type: String, required: true },
  done_at: { type: Date, required: true }
}, { collection: 'migrations', versionKey: false, autoIndex: false, strict: 'throw' })

export type MigrationDoc = InferSchemaType<typeof migrationSchema>

export function migrationModel (connection: Connection): Model<MigrationDoc> {
  return connection.model<MigrationDoc>('Migration', migrationSchema)
}
