import fp from 'fastify-plugin'
import mongoose, { trusted, type Connection, type Model } from 'mongoose'
import type { FastifyInstance } from 'fastify'

export interface Database {
  /** The connection the stores build their models on. Only stores (plugins/stores, login-events) use it. */
  connection: Connection
  /** Resolves true when the server answers a ping within `timeoutMs`. Never throws. */
  ping(timeoutMs?: number): Promise<boolean>
  /**
   * Builds the indexes a model's schema declares that the collection does not have yet (an
   * index that exists is not built again, so a start does not rescan the data). Where the
   * server cannot expire documents itself (TTL indexes are missing on FerretDB 1.x), the index
   * is built without the TTL and expired documents are deleted by a sweep every minute instead.
   */
  ensureIndexes(model: Model<any>): Promise<void> // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** How often expired documents are swept where TTL indexes are unavailable. */
const TTL_SWEEP_MS = 60_000
/** MongoDB's NotImplemented error code (FerretDB answers it for unsupported index options). */
const NOT_IMPLEMENTED = 238
/** NamespaceNotFound: listing the indexes of a collection that does not exist yet. */
const NAMESPACE_NOT_FOUND = 26

/** MongoDB's duplicate-key error code (E11000): a unique index refused a write. */
export const DUPLICATE_KEY = 11000

/** Whether a write failed because a unique index already holds the key. */
export function isDuplicateKey (err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === DUPLICATE_KEY
}

declare module 'fastify' {
  interface FastifyInstance {
    db: Database
  }
}

export interface DbPluginOptions {
  uri: string
}

type IndexSpec = [Record<string, 1 | -1>, Record<string, unknown>]

/** A stable name for an index key, as MongoDB names it (`field_1_other_-1`). */
function indexName (fields: Record<string, 1 | -1>): string {
  return Object.entries(fields).map(([f, d]) => `${f}_${d}`).join('_')
}

/**
 * Opens the MongoDB connection (one per app, closed with it). Stores register their models
 * on it and call `ensureIndexes` once at start-up.
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

  type IndexInfo = { name: string, expireAfterSeconds?: number }

  async function existingIndexes (model: Model<any>): Promise<Map<string, IndexInfo>> { // eslint-disable-line @typescript-eslint/no-explicit-any
    try {
      const indexes = await model.collection.listIndexes().toArray() as IndexInfo[]
      return new Map(indexes.map((i) => [String(i.name), i]))
    } catch (err) {
      if ((err as { code?: number }).code === NAMESPACE_NOT_FOUND) return new Map()
      throw err
    }
  }

  function sweepExpired (model: Model<any>, field: string, expireAfterSeconds: number): void { // eslint-disable-line @typescript-eslint/no-explicit-any
    const sweep = (): void => {
      model.deleteMany({ [field]: trusted({ $lt: new Date(Date.now() - expireAfterSeconds * 1000) }) })
        .catch((err: Error) => fastify.log.warn({ err, collection: model.collection.name }, 'expiry sweep failed'))
    }
    // The first sweep waits one period: a start never waits on (or competes with) a sweep.
    sweeps.push(setInterval(sweep, TTL_SWEEP_MS).unref())
    fastify.log.debug({ collection: model.collection.name, field }, 'TTL index unsupported by the server: sweeping expired documents instead')
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async function ensureIndexes (model: Model<any>): Promise<void> {
    let existing = await existingIndexes(model)
    let created = false
    for (const [fields, options] of model.schema.indexes() as IndexSpec[]) {
      const name = (options.name as string | undefined) ?? indexName(fields)
      const { expireAfterSeconds, ...rest } = options as { expireAfterSeconds?: number }
      if (existing.has(name)) continue
      created = true
      try {
        await model.collection.createIndex(fields, { ...options, name })
      } catch (err) {
        if ((err as { code?: number }).code !== NOT_IMPLEMENTED || expireAfterSeconds === undefined) throw err
        await model.collection.createIndex(fields, { ...rest, name })
      }
    }
    if (created) existing = await existingIndexes(model)
    for (const [fields, options] of model.schema.indexes() as IndexSpec[]) {
      const expireAfterSeconds = options.expireAfterSeconds as number | undefined
      if (expireAfterSeconds === undefined) continue
      const name = (options.name as string | undefined) ?? indexName(fields)
      const actual = existing.get(name)?.expireAfterSeconds
      if (actual === undefined) {
        sweepExpired(model, Object.keys(fields)[0], expireAfterSeconds)
      } else if (actual !== expireAfterSeconds) {
        // A changed retention: the server keeps the TTL index, with the new length.
        await connection.db?.command({ collMod: model.collection.name, index: { name, expireAfterSeconds } })
      }
    }
  }

  const database: Database = {
    ensureIndexes,
    connection,
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
  fastify.decorate('db', database)
}

export default fp(db, { name: 'db', fastify: '5.x' })
