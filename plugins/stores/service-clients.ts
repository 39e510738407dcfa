import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { serviceClientModel } from '../../src/models/service-client'
import { isDuplicateKey } from '../db'

export interface ServiceClientRecord {
  id: string
  name: string
  /** SHA-256 of the secret, base64url */
  secretHash: string
  createdAt: Date
}

export interface ServiceClientsStore {
  /** Stores a client; false when the name is taken. */
  insert(client: Omit<ServiceClientRecord, 'createdAt'>): Promise<ServiceClientRecord | false>
  findById(id: string): Promise<ServiceClientRecord | null>
  /** Every client, oldest first. */
  list(): Promise<ServiceClientRecord[]>
  /** Deletes a client; false when there was none. */
  remove(id: string): Promise<boolean>
}

declare module 'fastify' {
  interface FastifyInstance {
    serviceClients: ServiceClientsStore
  }
}

interface ClientDoc {
  _id: string
  name: string
  secret_hash: string
  created_at: Date
}

function toRecord (doc: ClientDoc): ServiceClientRecord {
  return { id: doc._id, name: doc.name, secretHash: doc.secret_hash, createdAt: doc.created_at }
}

/** The only code that touches the `service_clients` collection. */
async function serviceClientsStore (fastify: FastifyInstance): Promise<void> {
  const model = serviceClientModel(fastify.db.connection)
  await fastify.db.ensureIndexes(model)

  fastify.decorate('serviceClients', {
    async insert (client: Omit<ServiceClientRecord, 'createdAt'>) {
      try {
        const doc = await model.create({ _id: client.id, name: client.name, secret_hash: client.secretHash })
        return toRecord(doc.toObject() as ClientDoc)
      } catch (err) {
        if (isDuplicateKey(err)) return false
        throw err
      }
    },
    async findById (id: string) {
      const doc = await model.findOne({ _id: id }).lean<ClientDoc>()
      return doc === null ? null : toRecord(doc)
    },
    async list () {
      const docs = await model.find({}).sort({ created_at: 1, _id: 1 }).lean<ClientDoc[]>()
      return docs.map(toRecord)
    },
    async remove (id: string) {
      const res = await model.deleteOne({ _id: id })
      return res.deletedCount === 1
    }
  } satisfies ServiceClientsStore)
}

export default fp(serviceClientsStore, { name: 'service-clients-store', fastify: '5.x', dependencies: ['db'] })
