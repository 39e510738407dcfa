import fp from 'fastify-plugin'
import { trusted, Types } from 'mongoose'
import type { FastifyInstance } from 'fastify'
import { stateChangeModel, stateChangeFeedModel, type STATE_CHANGE_KINDS } from '../../src/models/state-change'
import '../db'

export type StateChangeKind = typeof STATE_CHANGE_KINDS[number]

/** One change of account state, as stored and as propagated to other instances. */
export interface StateChange {
  /** Assigned by the store. */
  id?: string
  kind: StateChangeKind
  userId?: string
  sessionId?: string
  kid?: string
  /** of a lock: why it was made */
  reason?: string
  /** ms since the epoch */
  at: number
  /** ms since the epoch: the change matters until then */
  until: number
}

export interface StateChangesStore {
  /** Journals a change and posts it on the feed other instances poll; returns it with its id. */
  append(change: StateChange): Promise<StateChange>
  /**
   * Journals many changes at once without posting them on the feed: running instances do not
   * see them, instances that start afterwards load them. For seeding a database (benchmarks,
   * imports) before Warden starts on it. Returns how many were written.
   */
  seed(changes: StateChange[]): Promise<number>
  /**
   * The changes posted on the feed at or after `since` (the database server's time), oldest
   * first. The feed keeps a change for FEED_RETENTION_SECONDS.
   */
  since(since: Date): Promise<StateChange[]>
  /**
   * The changes posted on the feed from a little before the change `id` was posted (the
   * overlap a poll uses, so that changes posted around it by other instances are not missed),
   * oldest first; null when `id` is not on the feed (unknown, or older than the feed keeps).
   */
  after(id: string, overlapMs: number): Promise<StateChange[] | null>
  /** The database server's clock, which stamps the feed: a poll's cursor is read from it. */
  serverTime(): Promise<Date>
  /** Every change that still matters at `now`, oldest first: what an instance loads at start. */
  live(now: number): Promise<StateChange[]>
  /** Removes the journalled locks (and the sessions they let through) of a user, after an unlock. */
  forgetLocks(userId: string): Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    stateChanges: StateChangesStore
  }
}

interface ChangeDoc {
  _id: unknown
  kind: StateChangeKind
  user_id?: string | null
  session_id?: string | null
  kid?: string | null
  reason?: string | null
  at: Date
  until: Date
}

function toChange (doc: ChangeDoc): StateChange {
  const change: StateChange = { id: String(doc._id), kind: doc.kind, at: doc.at.getTime(), until: doc.until.getTime() }
  if (doc.user_id != null) change.userId = doc.user_id
  if (doc.session_id != null) change.sessionId = doc.session_id
  if (doc.kid != null) change.kid = doc.kid
  if (doc.reason != null) change.reason = doc.reason
  return change
}

/**
 * The journal of locks, unlocks, revoked sessions and key rotations. Entries leave once they
 * can no longer matter, so reading the live ones at start stays cheap however large the users,
 * sessions and events collections grow. Each entry is also posted on a short-lived feed that
 * other instances poll. The only code that touches `state_changes` and `state_change_feed`.
 */
async function stateChangesStore (fastify: FastifyInstance): Promise<void> {
  const model = stateChangeModel(fastify.db.connection)
  const feed = stateChangeFeedModel(fastify.db.connection)
  await fastify.db.ensureIndexes(model)
  await fastify.db.ensureIndexes(feed)

  const toDoc = (change: StateChange) => ({
    kind: change.kind,
    user_id: change.userId ?? null,
    session_id: change.sessionId ?? null,
    kid: change.kid ?? null,
    reason: change.reason ?? null,
    at: new Date(change.at),
    until: new Date(change.until)
  })

  fastify.decorate('stateChanges', {
    async append (change: StateChange) {
      const _id = new Types.ObjectId()
      const doc = toDoc(change)
      await Promise.all([
        model.create({ _id, ...doc }),
        // An upsert, so that the database server stamps posted_at with its own clock.
        feed.updateOne({ _id }, { $setOnInsert: doc, $currentDate: { posted_at: true } }, { upsert: true })
      ])
      return { ...change, id: String(_id) }
    },
    async seed (changes: StateChange[]) {
      if (changes.length === 0) return 0
      const written = await model.insertMany(changes.map(toDoc), { lean: true, ordered: false })
      return written.length
    },
    async since (since: Date) {
      const docs = await feed.find({ posted_at: trusted({ $gte: since }) }).sort({ posted_at: 1, _id: 1 }).lean<ChangeDoc[]>()
      return docs.map(toChange)
    },
    async after (id: string, overlapMs: number) {
      if (!Types.ObjectId.isValid(id) || String(new Types.ObjectId(id)) !== id) return null
      const posted = await feed.findById(id, { posted_at: 1 }).lean<{ posted_at?: Date }>()
      if (posted?.posted_at == null) return null
      return this.since(new Date(posted.posted_at.getTime() - overlapMs))
    },
    async serverTime () {
      const hello = await fastify.db.connection.db?.command({ hello: 1 })
      const time = hello?.localTime as unknown
      if (!(time instanceof Date)) throw new Error('the database server did not tell its time')
      return time
    },
    async live (now: number) {
      const docs = await model.find({ until: trusted({ $gt: new Date(now) }) }).sort({ _id: 1 }).lean<ChangeDoc[]>()
      return docs.map(toChange)
    },
    async forgetLocks (userId: string) {
      await model.deleteMany({ user_id: userId, kind: trusted({ $in: ['lock', 'device_session'] }) })
    }
  } satisfies StateChangesStore)
}

export default fp(stateChangesStore, { name: 'state-changes-store', fastify: '5.x', dependencies: ['db'] })
