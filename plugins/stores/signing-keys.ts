import fp from 'fastify-plugin'
import { trusted } from 'mongoose'
import type { JsonWebKey } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { ConfigError } from '../../src/config'
import type { KeyState } from '../../src/lib/key-lifecycle'
import { openKey, sealKey, SealedKeyError, type DerivedKeyCache, type SealedKey } from '../../src/lib/sealed-key'
import { signingKeyModel } from '../../src/models/signing-key'
import '../config'
import { isDuplicateKey } from '../db'

/** A signing key without its private part. */
export interface SigningKeyRecord {
  kid: string
  alg: string
  generation: number
  state: KeyState
  publicJwk: JsonWebKey
  createdAt: Date
  retireAt: Date | null
  retiredAt: Date | null
  /** Whether the private key is stored encrypted (false also once it is erased). */
  encrypted: boolean
}

export interface NewSigningKey {
  kid: string
  alg: string
  generation: number
  publicJwk: JsonWebKey
  privatePem: string
}

export interface SigningKeysStore {
  /** Every key of `alg`, newest generation first, without private parts. */
  list(alg: string): Promise<SigningKeyRecord[]>
  /** A key with its private PEM (decrypted; null once retired). Throws ConfigError when KEY_ENCRYPTION_SECRET cannot open it. */
  get(kid: string): Promise<(SigningKeyRecord & { privatePem: string | null }) | null>
  /** Stores a new active key (encrypted when KEY_ENCRYPTION_SECRET is set); false when another instance stored that generation first. */
  insert(key: NewSigningKey): Promise<boolean>
  /** Makes every active key of `alg` older than `generation` retiring until `retireAt`; returns their kids. */
  retireBelow(alg: string, generation: number, retireAt: Date): Promise<string[]>
  /** Records keys as retired and erases their private parts. */
  markRetired(kids: string[], at: Date): Promise<void>
  /** Encrypts the private keys stored in plaintext (before KEY_ENCRYPTION_SECRET was set); returns how many. */
  sealPlaintext(): Promise<number>
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
  state?: KeyState | null
  public_jwk: unknown
  private_pem?: string | null
  private_sealed?: SealedKey | null
  created_at: Date
  retire_at?: Date | null
  retired_at?: Date | null
}

function toRecord (doc: KeyDoc): SigningKeyRecord {
  return {
    kid: doc._id,
    alg: doc.alg,
    generation: doc.generation,
    state: doc.state ?? 'active',
    publicJwk: doc.public_jwk as JsonWebKey,
    createdAt: doc.created_at,
    retireAt: doc.retire_at ?? null,
    retiredAt: doc.retired_at ?? null,
    encrypted: doc.private_sealed != null
  }
}

/** Listing never reads a plaintext private key (a sealed one is ciphertext). */
const NO_PLAINTEXT = { private_pem: 0 }

/**
 * The only code that reads or writes the `signing_keys` collection. With KEY_ENCRYPTION_SECRET
 * set, private keys are written sealed (AES-256-GCM) and opened on read; without it they are
 * PKCS#8 PEM, as before the setting existed.
 */
async function signingKeysStore (fastify: FastifyInstance): Promise<void> {
  const model = signingKeyModel(fastify.db.connection)
  await fastify.db.ensureIndexes(model)
  const secret = fastify.config.signingKeys.encryptionSecret
  const derivedKeys: DerivedKeyCache = new Map()

  async function privatePem (doc: KeyDoc): Promise<string | null> {
    if (doc.private_sealed != null) {
      if (secret === undefined) {
        throw new ConfigError(`signing key ${doc._id} is encrypted: set KEY_ENCRYPTION_SECRET to the secret it was encrypted with`)
      }
      try {
        return await openKey(doc.private_sealed, secret, doc._id, derivedKeys)
      } catch (err) {
        if (err instanceof SealedKeyError) {
          throw new ConfigError(`KEY_ENCRYPTION_SECRET does not decrypt signing key ${doc._id} (wrong secret?)`)
        }
        throw err
      }
    }
    return doc.private_pem ?? null
  }

  async function privateFields (kid: string, pem: string): Promise<Record<string, unknown>> {
    return secret === undefined ? { private_pem: pem } : { private_sealed: await sealKey(pem, secret, kid, derivedKeys) }
  }

  fastify.decorate('signingKeys', {
    async list (alg: string) {
      const docs = await model.find({ alg }, NO_PLAINTEXT).sort({ generation: -1 }).lean<KeyDoc[]>()
      return docs.map(toRecord)
    },
    async get (kid: string) {
      const doc = await model.findOne({ _id: kid }).lean<KeyDoc>()
      return doc === null ? null : { ...toRecord(doc), privatePem: await privatePem(doc) }
    },
    async insert (key: NewSigningKey) {
      try {
        await model.create({
          _id: key.kid,
          alg: key.alg,
          generation: key.generation,
          state: 'active',
          public_jwk: key.publicJwk,
          ...await privateFields(key.kid, key.privatePem)
        })
        return true
      } catch (err) {
        if (isDuplicateKey(err)) return false
        throw err
      }
    },
    async retireBelow (alg: string, generation: number, retireAt: Date) {
      const filter = { alg, generation: trusted({ $lt: generation }), state: trusted({ $nin: ['retiring', 'retired'] as KeyState[] }) }
      const kids = (await model.find(filter, { _id: 1 }).lean<Array<{ _id: string }>>()).map((d) => d._id)
      if (kids.length > 0) {
        await model.updateMany({ ...filter, _id: trusted({ $in: kids }) }, { $set: { state: 'retiring', retire_at: retireAt } })
      }
      return kids
    },
    async markRetired (kids: string[], at: Date) {
      if (kids.length === 0) return
      await model.updateMany(
        { _id: trusted({ $in: kids }), state: trusted({ $ne: 'retired' }) },
        { $set: { state: 'retired', retired_at: at }, $unset: { private_pem: 1, private_sealed: 1 } }
      )
    },
    async sealPlaintext () {
      if (secret === undefined) return 0
      const docs = await model.find({ private_pem: trusted({ $exists: true }) }).lean<KeyDoc[]>()
      let sealed = 0
      for (const doc of docs) {
        const fields = await privateFields(doc._id, doc.private_pem as string)
        // conditional: another instance may have sealed it meanwhile
        const res = await model.updateOne({ _id: doc._id, private_pem: doc.private_pem }, { $set: fields, $unset: { private_pem: 1 } })
        sealed += res.modifiedCount
      }
      return sealed
    }
  } satisfies SigningKeysStore)
}

export default fp(signingKeysStore, { name: 'signing-keys-store', fastify: '5.x', dependencies: ['config', 'db'] })
