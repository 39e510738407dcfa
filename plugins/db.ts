import fp from 'fastify-plugin'
import mongoose, { mongo, trusted, type Connection, type Model } from 'mongoose'
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
  /**
   * Runs the expiry sweeps now, as the minute's timer would (nothing to do where the server has
   * the TTL indexes); resolves with the number of documents deleted.
   */
  sweepExpired(): Promise<number>
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

/**
 * How long an operation waits for a reachable database server before it fails: while the
 * database is away, a request that needs it is answered 503 after this long rather than hanging.
 */
export const SERVER_SELECTION_TIMEOUT_MS = 500
/** How long a start keeps trying to reach the database before it gives up. */
const CONNECT_DEADLINE_MS = 5000

/** Node's codes for a connection refused, reset or written to after the other side closed it. */
const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set(['EPIPE', 'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ENOTCONN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH'])

/**
 * Whether an operation failed because no database server could be reached (none selected in
 * time, the connection lost or closed), as opposed to an answer of the server: the request is
 * then answered 503 `unavailable`, to be retried.
 */
export function isDatabaseUnreachable (err: unknown): boolean {
  return err instanceof mongo.MongoNetworkError ||
    // A write on a connection the server has just closed: the driver lets Node's own error through.
    NETWORK_ERROR_CODES.has(String((err as { code?: unknown } | null)?.code)) ||
    err instanceof mongo.MongoServerSelectionError ||
    err instanceof mongo.MongoNotConnectedError ||
    err instanceof mongo.MongoTopologyClosedError ||
    err instanceof mongo.MongoServerClosedError ||
    err instanceof mongo.MongoClientClosedError ||
    (err as { name?: unknown } | null)?.name === 'MongooseServerSelectionError'
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

/** How long connecting to a server (and its handshake, and a heartbeat) may take. */
const CONNECT_TIMEOUT_MS = 5000
/** Commands are never queued while the connection is down: they fail after one server selection. */
const CONNECTION_OPTIONS = {
  autoIndex: false,
  autoCreate: false,
  bufferCommands: false,
  sanitizeFilter: true,
  serverSelectionTimeoutMS: SERVER_SELECTION_TIMEOUT_MS,
  connectTimeoutMS: CONNECT_TIMEOUT_MS
}
/**
 * A server check of the driver that has neither answered nor failed after this long, while the
 * server is unreachable, will not end: its socket timeout is CONNECT_TIMEOUT_MS.
 */
const STALLED_CHECK_MS = CONNECT_TIMEOUT_MS + 2000
/** How often the connection is looked at for a stalled check, and opened again after one. */
const WATCH_MS = 1000

/**
 * Connects, trying again for CONNECT_DEADLINE_MS: each attempt waits only one server selection
 * (short, so that requests fail fast during an outage), a start may meet a server still starting.
 */
async function connect (uri: string): Promise<Connection> {
  const deadline = Date.now() + CONNECT_DEADLINE_MS
  for (;;) {
    const connection = mongoose.createConnection(uri, CONNECTION_OPTIONS)
    try {
      return await connection.asPromise()
    } catch (err) {
      await connection.close().catch(() => {})
      if (!isDatabaseUnreachable(err) || Date.now() >= deadline) throw err
    }
  }
}

/**
 * Opens the MongoDB connection (one per app, closed with it). Stores register their models
 * on it and call `ensureIndexes` once at start-up. Losing the server and finding it again are
 * logged once each.
 */
async function db (fastify: FastifyInstance, opts: DbPluginOptions): Promise<void> {
  const connection = await connect(opts.uri)
  let closing = false
  fastify.addHook('preClose', async () => { closing = true })
  /** Set while the connection is closed and opened again (see `watchChecks`). */
  let reopening: Promise<void> | null = null
  let unreachable = false
  connection.on('disconnected', () => {
    if (closing || unreachable) return
    unreachable = true
    fastify.log.warn('database unreachable: requests that need it answer 503 until it is back')
  })
  for (const event of ['reconnected', 'open']) {
    connection.on(event, () => {
      if (!unreachable) return
      unreachable = false
      fastify.log.info('database reachable again')
    })
  }

  // The driver finds a server again through its server checks; after a server has gone, one of
  // them can wait forever on a socket Node has already destroyed (the driver waits for a drain that
  // never comes, and no socket timeout runs on a destroyed socket). The server would then stay
  // unreachable to this process though it is back: the connection is closed and opened again.
  let checkSince: number | null = null
  /** The connection was closed to be opened again, and that has not succeeded yet. */
  let closed = false
  function watchChecks (): void {
    const client = connection.getClient()
    client.on('serverHeartbeatStarted', (event) => { if (!event.awaited) checkSince = Date.now() })
    client.on('serverHeartbeatSucceeded', () => { checkSince = null })
    client.on('serverHeartbeatFailed', () => { checkSince = null })
  }
  watchChecks()
  async function reopen (): Promise<void> {
    checkSince = null
    if (!closed) {
      closed = true
      await connection.close().catch(() => {})
    }
    if (closing) return
    try {
      await connection.openUri(opts.uri, CONNECTION_OPTIONS)
      closed = false
      watchChecks()
    } catch (err) {
      // Still away: the next look tries again. Requests meanwhile answer 503.
      if (!isDatabaseUnreachable(err)) fastify.log.warn({ err }, 'database connection could not be opened again')
    }
  }
  const watch = setInterval(() => {
    if (closing || reopening !== null || connection.readyState === mongoose.ConnectionStates.connected) return
    const stalled = checkSince !== null && Date.now() - checkSince > STALLED_CHECK_MS
    if (!stalled && !closed) return
    if (stalled) fastify.log.warn('database server check stalled: opening the connection again')
    reopening = reopen().finally(() => { reopening = null })
  }, WATCH_MS).unref()
  fastify.addHook('onClose', async () => {
    clearInterval(watch)
    await reopening
    await connection.close()
  })
  const sweepTimers: NodeJS.Timeout[] = []
  const sweeps: Array<() => Promise<number>> = []
  fastify.addHook('onClose', async () => { for (const timer of sweepTimers) clearInterval(timer) })

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
    const sweep = async (): Promise<number> => {
      const { deletedCount } = await model.deleteMany({ [field]: trusted({ $lt: new Date(Date.now() - expireAfterSeconds * 1000) }) })
      return deletedCount
    }
    sweeps.push(sweep)
    // The first sweep waits one period: a start never waits on (or competes with) a sweep.
    sweepTimers.push(setInterval(() => {
      sweep().catch((err: Error) => fastify.log.warn({ err, collection: model.collection.name }, 'expiry sweep failed'))
    }, TTL_SWEEP_MS).unref())
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
    async sweepExpired () {
      let deleted = 0
      for (const sweep of sweeps) deleted += await sweep()
      return deleted
    },
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
