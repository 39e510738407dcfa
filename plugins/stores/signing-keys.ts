import fp from 'fastify-plugin'
import type { JsonWebKey } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { signingKeyModel } from '../../src/models/signing-key'
import '../db'

export interface SigningKeyRecord {
  kid: string
  alg: string
  generation: number
  publicJwk: JsonWebKey
  privatePem: string
  createdAt: Date
}

export interface SigningKeysStore {
  /** Every key of `alg`, newest generation first. */
  list(alg: string): Promise<SigningKeyRecord[]>
  get(kid: string): Promise<SigningKeyRecord | null>
  /** Inserts a key; false when another instance stored that generation first. */
  insert(key: Omit<SigningKeyRecord, 'createdAt'>): Promise<boolean>
}

declare module 'fastify' {
  interface FastifyInstance {
    signingKeys: SigningKeysStore
  }
}

interface KeyDoc {
  _id: string
  alg: string
  generation: number
  public_jwk: unknown
  private_pem: string
  created_at: Date
}

function toRecord (doc: KeyDoc): SigningKeyRecord {
  return { kid: doc._id, alg: doc.alg, generation: doc.generation, publicJwk: doc.public_jwk as JsonWebKey, privatePem: doc.private_pem, createdAt: doc.created_at }
}

/** The only code that reads or writes the `signing_keys` collection. */
async function signingKeysStore (fastify: FastifyInstance): Promise<void> {
  const model = signingKeyModel(fastify.db.connection)
  await fastify.db.ensureIndexes(model)

  fastify.decorate('signingKeys', {
    async list (alg: string) {
      const docs = await model.find({ alg }).sort({ generation: -1 }).lean<KeyDoc[]>()
      return docs.map(toRecord)
    },
    async get (kid: string) {
      const doc = await model.findOne({ _id: kid }).lean<KeyDoc>()
      return doc === null ? null : toRecord(doc)
    },
    async insert (key: Omit<SigningKeyRecord, 'createdAt'>) {
      try {
        await model.create({ _id: key.kid, alg: key.alg, generation: key.generation, public_jwk: key.publicJwk, private_pem: key.privatePem })
        return true
      } catch (err) {
        if ((err as { code?: number }).code === 11000) return false
        throw err
      }
    }
  } satisfies SigningKeysStore)
}

export default fp(signingKeysStore, { name: 'signing-keys-store', fastify: '5.x', dependencies: ['db'] })
