import fp from 'fastify-plugin'
import path from 'node:path'
import { isValidObjectId, mongo, trusted } from 'mongoose'
import type { FastifyInstance } from 'fastify'
import type { Origin } from '../src/lib/origin'
import { Spool } from '../src/lib/spool'
import { deviceFamily, MAX_USER_AGENT } from '../src/lib/user-agent'
import { encodeCursor, type Cursor } from '../src/lib/event-format'
import { loginEventModel, LOGIN_EVENT_TYPES, LOGIN_EVENT_OUTCOMES } from '../src/models/login-event'
import './config'
import { DUPLICATE_KEY } from './db'
import './metrics'
import './stores/users'

export type LoginEventType = typeof LOGIN_EVENT_TYPES[number]
export type LoginEventOutcome = typeof LOGIN_EVENT_OUTCOMES[number]

/** What a caller says about an event; where, when and by which request are filled in. */
export interface LoginEventInput {
  type: LoginEventType
  outcome: LoginEventOutcome
  reason?: string
  userId?: string | null
  username: string
  sessionId?: string | null
  /** Who acted, when not the account itself: an account id, `system` for Warden's own decisions, `cli` for the warden command. */
  actorId?: string | null
}

/** A login event as the API shows it (the contract's shape). */
export interface LoginEvent {
  id: string
  type: LoginEventType
  outcome: LoginEventOutcome
  reason: string | null
  user_id: string | null
  username: string
  ip: string
  user_agent: string | null
  at: string
  session_id: string | null
  actor_id: string | null
  request_id: string
  /** Successful logins only: the first from this address and device family within the retention window. */
  new_device?: boolean
}

export interface LoginEventFilter {
  userId?: string
  username?: string
  ip?: string
  type?: LoginEventType
  outcome?: LoginEventOutcome
  /** Events at or after this time. */
  from?: Date
  /** Events before this time. */
  to?: Date
}

export interface PageOptions {
  /** 1 to MAX_PAGE; default 50. */
  limit?: number
  /** Where the previous page ended. */
  cursor?: Cursor | null
}

export interface LoginEventPage {
  items: LoginEvent[]
  /** The cursor of the next page; null on the last one. */
  nextCursor: string | null
}

/** What the database did with a page query: enough to tell whether an index served it. */
export interface QueryPlan {
  /** `mongodb`, or `ferretdb` (whose explain output has no execution statistics). */
  server: 'mongodb' | 'ferretdb'
  /** Indexes the winning plan scans. */
  indexes: string[]
  /** Whether the plan sorts in memory (a SORT stage) rather than reading an index in order. */
  inMemorySort: boolean
  keysExamined: number | null
  docsExamined: number | null
  returned: number | null
  /** The server's own answer, for reports. */
  raw: unknown
}

/** An event as stored, for bulk imports (tests, benchmarks): ids and times are the caller's. */
export interface StoredLoginEvent {
  id?: string
  type: LoginEventType
  outcome: LoginEventOutcome
  reason?: string | null
  userId?: string | null
  username: string
  ip: string
  userAgent?: string | null
  at: Date
  sessionId?: string | null
  actorId?: string | null
  requestId: string
}

/** Counters for a metrics endpoint. Totals since start unless said otherwise. */
export interface LoginEventStats {
  durability: 'batched' | 'sync'
  /** Events accepted by record(). */
  recorded: number
  /** Events the database stored (directly or by replay). */
  written: number
  /** Writes the database already had (replays of a write whose answer was lost). */
  duplicates: number
  /** Events the database refused for good (logged with their ids). */
  rejected: number
  /** Events in memory, not yet written nor spooled (now). */
  buffered: number
  /** Batches written to the database. */
  batches: number
  batchSize: { count: number, sum: number, max: number }
  /** Milliseconds of each database write of a batch. */
  writeLatencyMs: { count: number, sum: number, max: number }
  /** Events appended to the spool file (database unreachable). */
  spooled: number
  /** Spooled events written to the database once it was back. */
  replayed: number
  /** Events in the spool waiting for the database (now). */
  spoolDepth: number
  /** Spool lines skipped as unreadable. */
  spoolSkipped: number
  /** Successful logins flagged `new_device`. */
  newDevices: number
  /** New-device notices handed to the notifier. */
  notices: number
}

export interface LoginEvents {
  /**
   * Records one event. With LOGIN_EVENT_DURABILITY=batched (the default) it resolves at once:
   * the event is written with the next group commit, a few milliseconds later, or spooled to
   * disk when the database is unreachable. With `sync` it resolves once the event is in the
   * database (or, the database being unreachable, fsynced to the spool).
   */
  record(origin: Origin, event: LoginEventInput): Promise<void>
  /** Events matching `filter`, newest first. */
  find(filter: LoginEventFilter, limit?: number): Promise<LoginEvent[]>
  /** One page of events matching `filter`, newest first, and the cursor of the next. */
  page(filter: LoginEventFilter, options?: PageOptions): Promise<LoginEventPage>
  /**
   * Every event matching `filter`, read from a database cursor as it is consumed: newest first, or,
   * on a server that uses no index for it (FerretDB 1.x), in storage order (see `ordered`).
   */
  stream(filter: LoginEventFilter): AsyncIterable<LoginEvent>
  /** Whether stream() gives events newest first (false: storage order, oldest first). */
  readonly ordered: boolean
  count(filter: LoginEventFilter): Promise<number>
  /** How the database runs `page(filter, options)`. */
  explainPage(filter: LoginEventFilter, options?: PageOptions): Promise<QueryPlan>
  /** Stores already-formed events in bulk (imports, benchmarks); events it has already are skipped. */
  importMany(events: StoredLoginEvent[]): Promise<number>
  /** Resolves once every event recorded before the call is written (or spooled). */
  flush(): Promise<void>
  stats(): LoginEventStats
}

declare module 'fastify' {
  interface FastifyInstance {
    loginEvents: LoginEvents
  }
}

/**
 * Actors that are not accounts, as `actor_id` names them: Warden itself (an automatic lock) and the
 * operator of the `warden` command on the machine.
 */
export const SYSTEM_ACTOR = 'system'
export const CLI_ACTOR_ID = 'cli'

export const MAX_PAGE = 200
const MAX_USERNAME = 256
/** Group commit: the largest batch (how long the first event waits for others is LOGIN_EVENT_BATCH_MS). */
const MAX_BATCH = 500
/** A write that has not answered by then is taken as failed; its batch goes to the spool. */
const WRITE_TIMEOUT_MS = 2000
/** While spooling: how often the database is asked whether it is back. */
const RETRY_MS = 1000
const REPLAY_CHUNK = 1000
/** How often the spool folder is searched for spools of stopped processes. */
const ORPHAN_SCAN_MS = 60_000
/** (user, device, address) triples known to have logged in, kept to skip the new-device query. */
const SEEN_CACHE = 10_000

interface EventDoc {
  _id: mongo.ObjectId
  type: LoginEventType
  outcome: LoginEventOutcome
  reason: string | null
  user_id: mongo.ObjectId | null
  username: string
  ip: string
  user_agent: string | null
  at: Date
  session_id: string | null
  actor_id: mongo.ObjectId | string | null
  request_id: string
  device: string | null
  new_device: boolean | null
}

function toEvent (doc: EventDoc): LoginEvent {
  const event: LoginEvent = {
    id: String(doc._id),
    type: doc.type,
    outcome: doc.outcome,
    reason: doc.reason ?? null,
    user_id: doc.user_id == null ? null : String(doc.user_id),
    username: doc.username,
    ip: doc.ip,
    user_agent: doc.user_agent ?? null,
    at: doc.at.toISOString(),
    session_id: doc.session_id ?? null,
    actor_id: doc.actor_id == null ? null : String(doc.actor_id),
    request_id: doc.request_id
  }
  if (typeof doc.new_device === 'boolean') event.new_device = doc.new_device
  return event
}

function objectId (id: string | null | undefined): mongo.ObjectId | null {
  return typeof id === 'string' && /^[0-9a-fA-F]{24}$/.test(id) && isValidObjectId(id) ? new mongo.ObjectId(id) : null
}

/** Who acted: an account id, or a word for an actor that is not an account (`system`). */
function actor (id: string | null | undefined): mongo.ObjectId | string | null {
  if (id === null || id === undefined || id === '') return null
  return objectId(id) ?? id.slice(0, 64)
}

const isLoginSuccess = (doc: EventDoc): boolean => doc.type === 'login' && doc.outcome === 'success' && doc.user_id !== null

/** The failed writes of a bulk insert, or undefined when the error is not a per-document one. */
function writeErrorsOf (err: unknown): Array<{ code?: number, index?: number }> | undefined {
  const e = err as { code?: number, writeErrors?: unknown }
  if (e.writeErrors !== undefined) return Array.isArray(e.writeErrors) ? e.writeErrors : [e.writeErrors as { code?: number }]
  if (e.code === DUPLICATE_KEY) return [{ code: DUPLICATE_KEY }]
  return undefined
}

class WriteTimeout extends Error {}

function withTimeout<T> (promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new WriteTimeout(`no answer within ${ms} ms`)) }, ms) })
  promise.catch(() => {})
  return Promise.race([promise, timeout]).finally(() => { clearTimeout(timer) })
}

/**
 * Whether the server answers these queries from secondary indexes. FerretDB 1.x on SQLite pushes
 * no filter but `_id` down to SQLite (its explain says `filterPushdown: false`): it scans and
 * sorts in its own memory whatever indexes exist, while each index makes every insert slower.
 * There the query indexes are not built.
 */
async function usesIndexes (fastify: FastifyInstance): Promise<boolean> {
  const probe = fastify.db.connection.collection('login_events')
  const plan = await probe.find({ user_id: new mongo.ObjectId() }).limit(1).explain() as { serverInfo?: { ferretdbVersion?: string }, filterPushdown?: boolean }
  return plan.serverInfo?.ferretdbVersion === undefined || plan.filterPushdown === true
}

/** Group-commit sizes: MAX_BATCH is the largest. */
const BATCH_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, MAX_BATCH]
/** Seconds of one batch write; WRITE_TIMEOUT_MS ends the slowest. */
const WRITE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, WRITE_TIMEOUT_MS / 1000]

/**
 * The metrics of the event record: its writer's figures (read from stats() when scraped, never
 * counted twice), and the attempts and account actions by outcome and reason. These are counted
 * as their events are recorded: every login, refresh, lock and unlock is one event, so the
 * counts and the login history cannot disagree.
 */
function declareMetrics (fastify: FastifyInstance, stats: () => LoginEventStats, indexed: boolean) {
  const { metrics } = fastify
  metrics.level('login_events_indexed', 'Whether history queries are answered from indexes (1) or scan the whole collection (0: a server that uses no index for them, FerretDB 1.x)', () => (indexed ? 1 : 0))
  metrics.total('login_events_recorded_total', 'Login events accepted for writing', () => stats().recorded)
  metrics.total('login_events_written_total', 'Login events the database stored (directly or replayed from the spool)', () => stats().written)
  metrics.total('login_events_duplicates_total', 'Replayed login events the database already had', () => stats().duplicates)
  metrics.total('login_events_rejected_total', 'Login events the database refused for good', () => stats().rejected)
  metrics.total('login_events_spooled_total', 'Login events written to the spool file while the database was unreachable', () => stats().spooled)
  metrics.total('login_events_replayed_total', 'Spooled login events stored in the database once it was back (an interrupted attempt included)', () => stats().replayed)
  metrics.level('login_events_buffered', 'Login events in memory waiting for the next group commit', () => stats().buffered)
  metrics.level('login_events_spool_depth', 'Login events in the spool file waiting for the database', () => stats().spoolDepth)
  const batchSizes = metrics.histogram({ name: 'login_event_batch_size', help: 'Events per group commit written to the database', buckets: BATCH_BUCKETS })
  const writeSeconds = metrics.histogram({ name: 'login_event_write_duration_seconds', help: 'Time of one group-commit write to the database', buckets: WRITE_BUCKETS })

  const logins = metrics.counter({ name: 'logins_total', help: 'Password logins by outcome and reason (bad_password, unknown_user, account_locked, device_locked, throttled; `none` for a success)', labelNames: ['outcome', 'reason'] })
  const refreshes = metrics.counter({ name: 'refreshes_total', help: 'Refresh-token exchanges by outcome and reason (`none` for a success)', labelNames: ['outcome', 'reason'] })
  const locks = metrics.counter({ name: 'locks_total', help: 'Locks made, by reason: auto_threshold and admin (accounts), device_threshold (a known device)', labelNames: ['reason'] })
  const unlocks = metrics.counter({ name: 'unlocks_total', help: 'Accounts unlocked, by reason (admin, self_service)', labelNames: ['reason'] })

  function countEvent (event: LoginEventInput): void {
    const reason = event.reason ?? 'none'
    switch (event.type) {
      case 'login':
        logins.inc({ outcome: event.outcome, reason })
        break
      case 'refresh':
        refreshes.inc({ outcome: event.outcome, reason })
        break
      case 'lock':
        if (event.outcome === 'success') locks.inc({ reason })
        break
      case 'unlock':
        if (event.outcome === 'success') unlocks.inc({ reason })
        break
    }
  }
  return { batchSizes, writeSeconds, countEvent }
}

/**
 * The store of login attempts and account actions, and the only code that touches
 * `login_events`. Writes leave the request's path: record() puts the event in a buffer that one
 * writer commits in batches (group commit), to the database or, while the database cannot be
 * reached, to an fsynced spool file replayed in order once it is back. Every event has its id
 * before its first write, so a replay never stores it twice.
 */
async function loginEvents (fastify: FastifyInstance): Promise<void> {
  const { config, log } = fastify
  const indexed = await usesIndexes(fastify)
  const model = loginEventModel(fastify.db.connection, config.loginEventRetention, indexed)
  await fastify.db.ensureIndexes(model)
  const collection = model.collection
  const sync = config.loginEventDurability === 'sync'
  const retentionMs = config.loginEventRetention * 1000
  const lingerMs = config.loginEventBatchMs

  const dbName = (fastify.db.connection.name ?? 'warden').replace(/[^A-Za-z0-9_-]/g, '_')
  const spool = new Spool({
    dir: path.resolve(config.dataDir, 'spool'),
    name: `login-events.${dbName}`,
    warn: (msg, details) => { log.warn(details ?? {}, msg) }
  })

  const counters = {
    recorded: 0,
    written: 0,
    duplicates: 0,
    rejected: 0,
    batches: 0,
    batchSize: { count: 0, sum: 0, max: 0 },
    writeLatencyMs: { count: 0, sum: 0, max: 0 },
    spooled: 0,
    replayed: 0,
    newDevices: 0,
    notices: 0
  }
  const { batchSizes, writeSeconds, countEvent } = declareMetrics(fastify, () => stats(), indexed)

  const buffer: EventDoc[] = []
  /** Events handed to the writer / written or spooled, for flush() and sync records. */
  let accepted = 0
  let settled = 0
  const waiters: Array<{ target: number, resolve: () => void }> = []
  let pumping = false
  let running: Promise<void> = Promise.resolve()
  let linger: NodeJS.Timeout | undefined
  /** True while the spool holds events: new batches queue behind them, on disk. */
  let spooling = spool.adoptOrphans() > 0
  let replayWanted = false
  let closing = false
  const notices = new Set<Promise<void>>()
  const seen = new Map<string, number>()
  const usersWithLogins = new Map<string, number>()

  function settle (n: number): void {
    settled += n
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i].target <= settled) {
        waiters[i].resolve()
        waiters.splice(i, 1)
      }
    }
  }

  function whenSettled (target: number): Promise<void> {
    if (settled >= target) return Promise.resolve()
    return new Promise((resolve) => { waiters.push({ target, resolve }) })
  }

  function kick (): void {
    if (linger !== undefined) {
      clearTimeout(linger)
      linger = undefined
    }
    if (!pumping) running = pump()
  }

  /** The one writer: batches from the buffer, and replay steps while the spool is not empty. */
  async function pump (): Promise<void> {
    pumping = true
    try {
      for (;;) {
        let worked = false
        if (buffer.length > 0) {
          const batch = buffer.splice(0, MAX_BATCH)
          try {
            await writeBatch(batch)
          } catch (err) {
            // the spool itself failed (disk full, permissions): nothing else can keep them
            log.error({ err, events: batch.length }, 'login events lost: neither the database nor the spool file took them')
          }
          settle(batch.length)
          worked = true
        }
        if (replayWanted && !closing) {
          await replayStep()
          worked = true
        }
        if (!worked) break
      }
    } finally {
      pumping = false
    }
  }

  async function insert (docs: EventDoc[], timeoutMs = WRITE_TIMEOUT_MS): Promise<{ written: number, duplicates: number }> {
    try {
      const write = collection.insertMany(docs, { ordered: false })
      await (timeoutMs > 0 ? withTimeout(write, timeoutMs) : write)
      return { written: docs.length, duplicates: 0 }
    } catch (err) {
      // Settled only when every document is accounted for (inserted, or refused one by one);
      // anything else, a connection lost half-way included, leaves the batch to the spool.
      const failures = writeErrorsOf(err)
      const inserted = (err as { insertedCount?: number }).insertedCount
      if (failures === undefined || failures.length === 0 || (inserted !== undefined && inserted + failures.length !== docs.length)) throw err
      const duplicates = failures.filter((f) => f.code === DUPLICATE_KEY).length
      const refused = failures.filter((f) => f.code !== DUPLICATE_KEY)
      if (refused.length > 0) {
        counters.rejected += refused.length
        const ids = refused.map((f) => (f.index !== undefined ? String(docs[f.index]?._id) : '?'))
        log.error({ err, ids }, 'the database refused login events')
      }
      return { written: docs.length - failures.length, duplicates }
    }
  }

  async function writeBatch (batch: EventDoc[]): Promise<void> {
    await markNewDevices(batch)
    if (!spooling) {
      const started = performance.now()
      try {
        const result = await insert(batch)
        const ms = performance.now() - started
        counters.written += result.written
        counters.duplicates += result.duplicates
        counters.batches++
        counters.batchSize.count++
        counters.batchSize.sum += batch.length
        counters.batchSize.max = Math.max(counters.batchSize.max, batch.length)
        counters.writeLatencyMs.count++
        counters.writeLatencyMs.sum += ms
        counters.writeLatencyMs.max = Math.max(counters.writeLatencyMs.max, ms)
        batchSizes.observe(batch.length)
        writeSeconds.observe(ms / 1000)
        notifyNewDevices(batch)
        return
      } catch (err) {
        log.warn({ err: { message: (err as Error).message, name: (err as Error).name }, events: batch.length }, 'login events cannot reach the database: spooling them to disk until it is back')
        spooling = true
      }
    }
    await spool.append(batch.map((doc) => mongo.BSON.EJSON.stringify(doc, { relaxed: false })))
    counters.spooled += batch.length
    notifyNewDevices(batch)
  }

  /** Writes the next spooled chunk; ends spooling when nothing is left. */
  async function replayStep (): Promise<void> {
    const chunk = await spool.read(REPLAY_CHUNK)
    if (chunk === null) {
      spooling = false
      replayWanted = false
      log.info({ replayed: counters.replayed }, 'login-event spool replayed')
      return
    }
    const docs: EventDoc[] = []
    for (const line of chunk.lines) {
      try {
        docs.push(mongo.BSON.EJSON.parse(line, { relaxed: false }) as EventDoc)
      } catch {
        spool.noteCorrupt()
        log.warn('skipping an unreadable login-event spool line')
      }
    }
    try {
      const result = docs.length > 0 ? await insert(docs) : { written: 0, duplicates: 0 }
      counters.written += result.written
      counters.duplicates += result.duplicates
      // a duplicate here is a spooled event an interrupted replay attempt already wrote
      counters.replayed += result.written + result.duplicates
    } catch (err) {
      replayWanted = false
      log.warn({ err: { message: (err as Error).message } }, 'login-event replay paused: the database is not answering')
      return
    }
    await chunk.commit()
  }

  // ---- new devices: decided in the writer, never on the request's path

  function remember (map: Map<string, number>, key: string, at: number): void {
    map.delete(key)
    map.set(key, at)
    if (map.size > SEEN_CACHE) map.delete(map.keys().next().value as string)
  }

  function fresh (map: Map<string, number>, key: string, now: number): boolean {
    const at = map.get(key)
    return at !== undefined && at >= now - retentionMs
  }

  async function markNewDevices (batch: EventDoc[]): Promise<void> {
    for (const doc of batch) {
      if (!isLoginSuccess(doc) || doc.device !== null) continue
      doc.device = deviceFamily(doc.user_agent)
      const user = String(doc.user_id)
      const key = `${user}|${doc.device}|${doc.ip}`
      const at = doc.at.getTime()
      try {
        if (fresh(seen, key, at)) {
          doc.new_device = false
        } else if (spooling) {
          doc.new_device = null // cannot be told without the database; no notice
        } else {
          const since = new Date(at - retentionMs)
          const before = { $gte: since, $lt: doc.at }
          const known = await withTimeout(collection.findOne({ user_id: doc.user_id, device: doc.device, ip: doc.ip, at: before }, { projection: { _id: 1 } }), WRITE_TIMEOUT_MS)
          if (known !== null) {
            doc.new_device = false
          } else {
            // The first login of an account is not news to its owner.
            const used = fresh(usersWithLogins, user, at) ||
              await withTimeout(collection.findOne({ user_id: doc.user_id, device: { $ne: null }, at: before }, { projection: { _id: 1 } }), WRITE_TIMEOUT_MS) !== null
            doc.new_device = used
          }
        }
      } catch (err) {
        doc.new_device = null
        log.warn({ err: { message: (err as Error).message } }, 'new-device check skipped: the database did not answer')
      }
      if (doc.new_device === true) counters.newDevices++
      remember(seen, key, at)
      remember(usersWithLogins, user, at)
    }
  }

  function notifyNewDevices (batch: EventDoc[]): void {
    for (const doc of batch) {
      if (doc.new_device !== true || doc.user_id === null) continue
      const sending = sendNotice(doc).catch((err: Error) => { log.error({ err }, 'new-device notice failed') })
      notices.add(sending)
      void sending.finally(() => notices.delete(sending))
    }
  }

  async function sendNotice (doc: EventDoc): Promise<void> {
    if (!fastify.hasDecorator('notifier')) return
    const user = await fastify.users.findById(String(doc.user_id))
    if (user === null || user.email === null) return
    await fastify.notifier.send({
      kind: 'new_device',
      to: user.email,
      userId: user.id,
      subject: 'New sign-in to your account',
      text: `Your account ${user.username} was signed in to from a device or address it had not used before:\n\n` +
        `  device: ${doc.device ?? 'unknown'}\n  address: ${doc.ip}\n  time: ${doc.at.toISOString()}\n\n` +
        'If this was you, there is nothing to do. If it was not, change your password now and end the sessions you do not recognise.\n'
    })
    counters.notices++
  }

  // ---- queries

  /** The MongoDB filter of `filter` (before `cursor`), or null when nothing can match. */
  function query (filter: LoginEventFilter, cursor?: Cursor | null): Record<string, unknown> | null {
    const q: Record<string, unknown> = {}
    if (filter.userId !== undefined) {
      const id = objectId(filter.userId)
      if (id === null) return null
      q.user_id = id
    }
    if (filter.username !== undefined) q.username = filter.username
    if (filter.ip !== undefined) q.ip = filter.ip
    if (filter.type !== undefined) q.type = filter.type
    if (filter.outcome !== undefined) q.outcome = filter.outcome
    const at: Record<string, Date> = {}
    if (filter.from !== undefined) at.$gte = filter.from
    if (filter.to !== undefined) at.$lt = filter.to
    if (cursor !== undefined && cursor !== null) {
      // One index range, at <= cursor, and the cursor's own millisecond cut at its id: the
      // order is read from the index; no $or (whose branches MongoDB may merge by sorting).
      if (at.$lt === undefined || cursor.at < at.$lt) {
        delete at.$lt
        at.$lte = cursor.at
      }
      q.$nor = [{ at: cursor.at, _id: trusted({ $gte: new mongo.ObjectId(cursor.id) }) }]
    }
    if (Object.keys(at).length > 0) q.at = trusted(at)
    return q
  }

  const NEWEST_FIRST = { at: -1, _id: -1 } as const

  function limitOf (options: PageOptions): number {
    return Math.min(Math.max(Math.trunc(options.limit ?? 50), 1), MAX_PAGE)
  }

  async function page (filter: LoginEventFilter, options: PageOptions = {}): Promise<LoginEventPage> {
    await flush()
    const q = query(filter, options.cursor)
    if (q === null) return { items: [], nextCursor: null }
    const limit = limitOf(options)
    // One more than asked: tells whether a next page exists without a second query.
    const docs = await model.find(q).sort(NEWEST_FIRST).limit(limit + 1).lean<EventDoc[]>()
    const more = docs.length > limit
    const items = docs.slice(0, limit)
    const last = items[items.length - 1]
    return {
      items: items.map(toEvent),
      nextCursor: more && last !== undefined ? encodeCursor({ at: last.at, id: String(last._id) }) : null
    }
  }

  async function flush (): Promise<void> {
    const target = accepted
    if (settled >= target) return
    kick()
    await whenSettled(target)
  }

  function planOf (raw: Record<string, unknown>): QueryPlan {
    if ((raw.serverInfo as { ferretdbVersion?: string } | undefined)?.ferretdbVersion !== undefined) {
      const plan = JSON.stringify(raw.queryPlanner ?? '')
      const indexes = [...plan.matchAll(/USING (?:COVERING )?INDEX (\S+)/g)].map((m) => m[1])
      return { server: 'ferretdb', indexes, inMemorySort: raw.sortPushdown !== true, keysExamined: null, docsExamined: null, returned: null, raw }
    }
    const stages: Array<Record<string, unknown>> = []
    const walk = (node: unknown): void => {
      if (node === null || typeof node !== 'object') return
      if (Array.isArray(node)) { node.forEach(walk); return }
      const n = node as Record<string, unknown>
      if (typeof n.stage === 'string') stages.push(n)
      for (const key of ['inputStage', 'inputStages', 'queryPlan', 'winningPlan']) walk(n[key])
    }
    const planner = raw.queryPlanner as Record<string, unknown> | undefined
    walk(planner?.winningPlan)
    const stats = raw.executionStats as Record<string, number> | undefined
    return {
      server: 'mongodb',
      indexes: stages.filter((s) => s.stage === 'IXSCAN').map((s) => String(s.indexName)),
      inMemorySort: stages.some((s) => s.stage === 'SORT'),
      keysExamined: stats?.totalKeysExamined ?? null,
      docsExamined: stats?.totalDocsExamined ?? null,
      returned: stats?.nReturned ?? null,
      raw
    }
  }

  function stats (): LoginEventStats {
    return {
      durability: config.loginEventDurability,
      ...counters,
      batchSize: { ...counters.batchSize },
      writeLatencyMs: { ...counters.writeLatencyMs },
      buffered: buffer.length,
      spoolDepth: spool.depth,
      spoolSkipped: spool.skipped
    }
  }

  // ---- the writer's clock: retries while spooling, orphan spools now and then

  let ticks = 0
  const retry = setInterval(() => {
    if (closing) return
    if (++ticks % Math.round(ORPHAN_SCAN_MS / RETRY_MS) === 0 && spool.adoptOrphans() > 0) spooling = true
    if (!spooling || replayWanted) return
    void fastify.db.ping(500).then((up) => {
      if (!up || closing) return
      replayWanted = true
      kick()
    })
  }, RETRY_MS)
  retry.unref()

  fastify.addHook('onClose', async () => {
    // Runs before the database connection closes (hooks close in reverse order of registration).
    closing = true
    clearInterval(retry)
    replayWanted = false
    kick()
    while (pumping || buffer.length > 0) {
      await running
      kick()
    }
    await Promise.allSettled([...notices])
    await spool.close()
  })

  fastify.decorate('loginEvents', {
    record (origin: Origin, event: LoginEventInput) {
      if (!LOGIN_EVENT_TYPES.includes(event.type) || !LOGIN_EVENT_OUTCOMES.includes(event.outcome)) {
        return Promise.reject(new Error(`not a login event: ${String(event.type)}/${String(event.outcome)}`))
      }
      buffer.push({
        _id: new mongo.ObjectId(),
        type: event.type,
        outcome: event.outcome,
        reason: event.reason ?? null,
        user_id: objectId(event.userId),
        username: event.username.slice(0, MAX_USERNAME),
        ip: origin.ip,
        user_agent: origin.userAgent === null ? null : origin.userAgent.slice(0, MAX_USER_AGENT),
        at: new Date(),
        session_id: event.sessionId ?? null,
        actor_id: actor(event.actorId),
        request_id: origin.requestId,
        device: null,
        new_device: null
      })
      counters.recorded++
      countEvent(event)
      const seq = ++accepted
      if (sync || closing || lingerMs === 0 || buffer.length >= MAX_BATCH) kick()
      else if (linger === undefined && !pumping) linger = setTimeout(kick, lingerMs)
      return sync ? whenSettled(seq) : Promise.resolve()
    },
    async find (filter: LoginEventFilter, limit = 50) {
      return (await page(filter, { limit })).items
    },
    page,
    ordered: indexed,
    stream (filter: LoginEventFilter): AsyncIterable<LoginEvent> {
      return {
        async * [Symbol.asyncIterator] () {
          await flush()
          const q = query(filter)
          if (q === null) return
          // Newest first where an index gives the order. Elsewhere (FerretDB 1.x) a sort would hold
          // every matching event in the database server's memory: events come in storage order.
          const reading = model.find(q)
          if (indexed) reading.sort(NEWEST_FIRST)
          const cursor = reading.lean<EventDoc[]>().cursor({ batchSize: 500 })
          try {
            for await (const doc of cursor) yield toEvent(doc as unknown as EventDoc)
          } finally {
            await cursor.close()
          }
        }
      }
    },
    async count (filter: LoginEventFilter) {
      await flush()
      const q = query(filter)
      return q === null ? 0 : await model.countDocuments(q)
    },
    async explainPage (filter: LoginEventFilter, options: PageOptions = {}) {
      const q = query(filter, options.cursor) ?? { _id: null }
      const raw = await model.find(q).sort(NEWEST_FIRST).limit(limitOf(options) + 1).explain('executionStats') as unknown
      return planOf((Array.isArray(raw) ? raw[0] : raw) as Record<string, unknown>)
    },
    async importMany (events: StoredLoginEvent[]) {
      if (events.length === 0) return 0
      const docs: EventDoc[] = events.map((e) => ({
        _id: objectId(e.id) ?? new mongo.ObjectId(),
        type: e.type,
        outcome: e.outcome,
        reason: e.reason ?? null,
        user_id: objectId(e.userId),
        username: e.username.slice(0, MAX_USERNAME),
        ip: e.ip,
        user_agent: e.userAgent == null ? null : e.userAgent.slice(0, MAX_USER_AGENT),
        at: e.at,
        session_id: e.sessionId ?? null,
        actor_id: actor(e.actorId),
        request_id: e.requestId,
        device: e.type === 'login' && e.outcome === 'success' ? deviceFamily(e.userAgent) : null,
        new_device: null
      }))
      const result = await insert(docs, 0)
      return result.written
    },
    flush,
    stats
  } satisfies LoginEvents)

  // Spools adopted at start are replayed in the background: a start never waits on them.
  if (spooling) log.info({ events: spool.depth }, 'login events spooled by a stopped process will be replayed')
}

export default fp(loginEvents, { name: 'login-events', fastify: '5.x', dependencies: ['config', 'db', 'metrics', 'users-store'] })
