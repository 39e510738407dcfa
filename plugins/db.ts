import fp from 'fastify-plugin'
import mongoose, { trusted, type Connection, type Model } from 'mongoose'
import type { FastifyInstance } from 'fastify'
import { userModel, type UserModel } from '../src/models/user'
import { sessionModel, type SessionModel } from '../src/models/session'
import { signingKeyModel, type SigningKeyModel } from '../src/models/signing-key'

export interface Database {
  connection: Connection
  users: UserModel
  sessions: SessionModel
  signingKeys: SigningKeyModel
  /** Resolves true when the server answers a ping within `timeoutMs`. Never throws. */
  ping(timeoutMs?: number): Promise<boolean>
  /**
   * Builds the indexes a model's schema declares. Where the server cannot expire documents
   * itself (TTL indexes are missing on FerretDB 1.x), the index is built without the TTL and
   * expired documents are deleted by a sweep every minute instead.
   */
  ensureIndexes(model: Model<any>): Promise<void> // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** How often expired documents are swept where TTL indexes are unavailable. */
const TTL_SWEEP_MS = 60_000
/** MongoDB's NotImplemented error code (FerretDB answers it for unsupported index options). */
const NOT_IMPLEMENTED = 238

declare module 'fastify' {
  interface FastifyInstance {
    db: Database
  }
}

export interface DbPluginOptions {
  uri: string
}

/**
 * Opens the MongoDB connection (one per app, closed with it), registers the core
 * models and builds their declared indexes once at start-up.
 */
async function db (fastify: FastifyInstance, opts: DbPluginOptions): Promise<void> {
  const connection = mongoose.createConnection(opts.uri, {
    autoIndex: false,
    autoCreate: false,
    bufferCommands: false,
    sanitizeFilter: true,
    serverSelectionTimeoutMS: 5000,
    connectTimeoutMS: 5000
  })
  fastify.addHook('onClose', async () => { await connection.close() })
  await connection.asPromise()

  const sweeps: NodeJS.Timeout[] = []
  fastify.addHook('onClose', async () => { for (const timer of sweeps) clearInterval(timer) })

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async function ensureIndexes (model: Model<any>): Promise<void> {
    try {
      await model.createIndexes()
      return
    } catch (err) {
      if ((err as { code?: number }).code !== NOT_IMPLEMENTED) throw err
    }
    for (const [fields, options] of model.schema.indexes()) {
      const { expireAfterSeconds, ...rest } = options as { expireAfterSeconds?: number }
      await model.collection.createIndex(fields as Record<string, 1 | -1>, rest)
      if (expireAfterSeconds === undefined) continue
      const field = Object.keys(fields)[0]
      const sweep = (): void => {
        model.deleteMany({ [field]: trusted({ $lt: new Date(Date.now() - expireAfterSeconds * 1000) }) })
          .catch((err: Error) => fastify.log.warn({ err, collection: model.collection.name }, 'expiry sweep failed'))
      }
      sweep()
      sweeps.push(setInterval(sweep, TTL_SWEEP_MS).unref())
      fastify.log.debug({ collection: model.collection.name, field }, 'TTL index unsupported by the server: sweeping expired documents instead')
    }
  }

  const database: Database = {
    ensureIndexes,
    connection,
    users: userModel(connection),
    sessions: sessionModel(connection),
    signingKeys: signingKeyModel(connection),
    async ping (timeoutMs = 1000) {
      const admin = connection.db?.admin()
      if (admin === undefined) return false
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<boolean>((resolve) => { timer = setTimeout(resolve, timeoutMs, false) })
      try {
        return await Promise.race([admin.ping().then(() => true, () => false), timeout])
      } finally {
        clearTimeout(timer)
      }
    }
  }
  await Promise.all([database.ensureIndexes(database.users), database.ensureIndexes(database.sessions), database.ensureIndexes(database.signingKeys)])
  fastify.decorate('db', database)
}

export default fp(db, { name: 'db', fastify: '5.x' })
