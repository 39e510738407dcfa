import fp from 'fastify-plugin'
import { isValidObjectId, trusted } from 'mongoose'
import type { FastifyInstance } from 'fastify'
import { errors } from '../../src/errors'
import { userModel } from '../../src/models/user'
import { oneAtATime } from '../../src/lib/one-at-a-time'
import { isDuplicateKey } from '../db'

/** A user as the services see it (the document without MongoDB's shapes). */
export interface UserRecord {
  id: string
  username: string
  usernameKey: string
  email: string | null
  passwordHash: string
  roles: string[]
  createdAt: Date
  lastLoginAt: Date | null
  lockedUntil: Date | null
  lockReason: string | null
  lockNote: string | null
}

/** The login-attempt count of an account, as a reservation left it. */
export interface LoginCount {
  /** attempts counted since the last success or automatic lock, this one included */
  failedLogins: number
  /** automatic locks since the last successful login or unlock */
  autoLocks: number
  /** logins are blocked until then (ms), or 0 */
  blockedUntil: number
}

export interface NewUser {
  username: string
  usernameKey: string
  /** The confusable skeleton (Unicode TS #39): unique, so look-alike names are refused. */
  usernameSkeleton: string
  email: string | null
  passwordHash: string
  roles: string[]
}

/** One page of the admin list: users in username-key order, after `afterKey`, matching every filter given. */
export interface UserListQuery {
  limit: number
  /** The username key the previous page ended with. */
  afterKey?: string
  /** A substring of the username key (already normalised by the caller). */
  keyContains?: string
  role?: string
  /** true: only accounts locked at `now`; false: only accounts not locked at `now`. */
  locked?: boolean
  now: Date
}

/** What an administrator may change on an account. */
export interface UserChanges {
  roles?: string[]
  email?: string | null
  lockNote?: string | null
}

export interface UsersStore {
  /** Inserts a user; throws UsernameTaken when the key is already used. */
  create(user: NewUser): Promise<UserRecord>
  findById(id: string): Promise<UserRecord | null>
  findByUsernameKey(key: string): Promise<UserRecord | null>
  existsWithKey(key: string): Promise<boolean>
  /** Whether an account has this key, or a name that looks like it (the same skeleton). */
  existsWithName(key: string, skeleton: string): Promise<boolean>
  /**
   * Gives accounts stored before the look-alike rules their key and skeleton; one that now collides
   * with another account is left as it was and reported through `collided`.
   */
  backfillNames(compute: (username: string) => { key: string, skeleton: string }, collided: (id: string) => void): Promise<void>
  existsWithRole(role: string): Promise<boolean>
  /** Stamps a successful login; replaces the password hash when one is given (rehash). */
  recordLogin(id: string, at: Date, passwordHash?: string): Promise<void>
  /**
   * Writes the lock state of a user (`until` null: unlocked). A lock also blocks login attempts
   * until it ends; an unlock opens them and clears the failure counts. False when there is no such user.
   */
  setLock(id: string, until: Date | null, reason: string | null): Promise<boolean>
  /**
   * Counts one login attempt before its password is checked, atomically, unless `threshold`
   * attempts are already counted or logins are blocked at `now`: then null.
   */
  reserveLoginAttempt(id: string, threshold: number, now: Date): Promise<LoginCount | null>
  /** The account's count as it stands (after a refused reservation: why it was refused). */
  loginCount(id: string): Promise<LoginCount | null>
  /**
   * Starts an automatic lock: blocks logins until `until`, starts the count over and counts one
   * more lock, provided the count still reached `threshold` and no other lock was counted since
   * the caller read `autoLocks`. True for the one caller that wins.
   */
  claimAutoLock(id: string, threshold: number, autoLocks: number, until: Date): Promise<boolean>
  /**
   * A successful password login: stamps it, replaces the hash when one is given (rehash), and
   * clears the failure and lock counts, unless logins were blocked meanwhile (false: no token
   * may be issued).
   */
  completeLogin(id: string, at: Date, passwordHash?: string): Promise<boolean>
  /** Deletes a user; false when there was none. */
  remove(id: string): Promise<boolean>
  /** A page of users (see UserListQuery), in username-key order. */
  list(query: UserListQuery): Promise<UserRecord[]>
  /** Applies `changes` in one write; the user after it, or null when there is no such user. */
  update(id: string, changes: UserChanges): Promise<UserRecord | null>
  /** How many accounts have `role` and are not locked at `now`, `exceptId` left out. */
  countActiveWithRole(role: string, now: Date, exceptId?: string): Promise<number>
}

declare module 'fastify' {
  interface FastifyInstance {
    users: UsersStore
  }
}

interface UserDoc {
  _id: unknown
  username: string
  username_key: string
  email?: string | null
  password_hash: string
  roles: string[]
  created_at: Date
  last_login_at?: Date | null
  locked_until?: Date | null
  lock_reason?: string | null
  failed_logins?: number
  auto_locks?: number
  logins_blocked_until?: Date | null
  lock_note?: string | null
}

function toCount (doc: UserDoc): LoginCount {
  return { failedLogins: doc.failed_logins ?? 0, autoLocks: doc.auto_locks ?? 0, blockedUntil: doc.logins_blocked_until?.getTime() ?? 0 }
}

/** Logins are open when no block is set or the block has ended. */
function loginsOpen (now: Date) {
  return { $or: [{ logins_blocked_until: null }, { logins_blocked_until: trusted({ $lte: now }) }] }
}

/** Fewer than `n` attempts counted (a document written before the count existed has none). */
const below = (n: number) => trusted({ $not: { $gte: n } })

function toRecord (doc: UserDoc): UserRecord {
  return {
    id: String(doc._id),
    username: doc.username,
    usernameKey: doc.username_key,
    email: doc.email ?? null,
    passwordHash: doc.password_hash,
    roles: doc.roles,
    createdAt: doc.created_at,
    lastLoginAt: doc.last_login_at ?? null,
    lockedUntil: doc.locked_until ?? null,
    lockReason: doc.lock_reason ?? null,
    lockNote: doc.lock_note ?? null
  }
}


/** A literal string as a regular expression. */
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** Accounts not locked at `now` (no lock, or one that has ended). */
const unlockedAt = (now: Date) => [{ locked_until: null }, { locked_until: trusted({ $lte: now }) }]

/** The only code that reads or writes the `users` collection. */
async function usersStore (fastify: FastifyInstance): Promise<void> {
  const model = userModel(fastify.db.connection)
  await fastify.db.ensureIndexes(model)

  const byId = (id: string) => isValidObjectId(id) ? { _id: id } : null
  // The login count of one user is updated one call at a time in this process: FerretDB 1.x
  // loses concurrent updates of one document. (MongoDB needs no help; several instances on
  // FerretDB only get this guarantee per instance.)
  const inTurn = oneAtATime()

  fastify.decorate('users', {
    async create (user: NewUser) {
      try {
        const doc = await model.create({
          username: user.username,
          username_key: user.usernameKey,
          username_skeleton: user.usernameSkeleton,
          email: user.email,
          password_hash: user.passwordHash,
          roles: user.roles
        })
        return toRecord(doc.toObject() as UserDoc)
      } catch (err) {
        if (isDuplicateKey(err)) throw new errors.UsernameTaken()
        throw err
      }
    },
    async findById (id: string) {
      const filter = byId(id)
      if (filter === null) return null
      const doc = await model.findOne(filter).lean<UserDoc>()
      return doc === null ? null : toRecord(doc)
    },
    async findByUsernameKey (key: string) {
      const doc = await model.findOne({ username_key: key }).lean<UserDoc>()
      return doc === null ? null : toRecord(doc)
    },
    async existsWithKey (key: string) {
      return await model.exists({ username_key: key }) !== null
    },
    async existsWithName (key: string, skeleton: string) {
      return await model.exists({ $or: [{ username_key: key }, { username_skeleton: skeleton }] }) !== null
    },
    async backfillNames (compute: (username: string) => { key: string, skeleton: string }, collided: (id: string) => void) {
      for await (const user of model.find({ username_skeleton: trusted({ $exists: false }) }, { username: 1 }).lean().cursor()) {
        const { key, skeleton } = compute(user.username)
        try {
          await model.updateOne({ _id: user._id }, { $set: { username_key: key, username_skeleton: skeleton } })
        } catch (err) {
          if (!isDuplicateKey(err)) throw err
          collided(String(user._id))
        }
      }
    },
    async existsWithRole (role: string) {
      return await model.exists({ roles: role }) !== null
    },
    async recordLogin (id: string, at: Date, passwordHash?: string) {
      const update: Record<string, unknown> = { last_login_at: at }
      if (passwordHash !== undefined) update.password_hash = passwordHash
      await inTurn(id, () => model.updateOne({ _id: id }, { $set: update }))
    },
    async setLock (id: string, until: Date | null, reason: string | null) {
      const filter = byId(id)
      if (filter === null) return false
      const update = until === null
        ? { locked_until: null, lock_reason: null, logins_blocked_until: null, failed_logins: 0, auto_locks: 0 }
        : { locked_until: until, lock_reason: reason, logins_blocked_until: until }
      const res = await inTurn(id, () => model.updateOne(filter, { $set: update }))
      return res.matchedCount === 1
    },
    // findOneAndUpdate without a projection: FerretDB 1.x does not support one in findAndModify.
    async reserveLoginAttempt (id: string, threshold: number, now: Date) {
      const filter = byId(id)
      if (filter === null) return null
      const doc = await inTurn(id, () => model.findOneAndUpdate(
        { ...filter, failed_logins: below(threshold), ...loginsOpen(now) },
        { $inc: { failed_logins: 1 } },
        { returnDocument: 'after' }
      ).lean<UserDoc>())
      return doc === null ? null : toCount(doc)
    },
    async loginCount (id: string) {
      const filter = byId(id)
      if (filter === null) return null
      const doc = await inTurn(id, () => model.findOne(filter).lean<UserDoc>())
      return doc === null ? null : toCount(doc)
    },
    async claimAutoLock (id: string, threshold: number, autoLocks: number, until: Date) {
      const res = await inTurn(id, () => model.updateOne(
        { _id: id, failed_logins: trusted({ $gte: threshold }), auto_locks: autoLocks === 0 ? trusted({ $in: [0, null] }) : autoLocks },
        { $set: { failed_logins: 0, auto_locks: autoLocks + 1, logins_blocked_until: until } }
      ))
      return res.modifiedCount === 1
    },
    async completeLogin (id: string, at: Date, passwordHash?: string) {
      const update: Record<string, unknown> = { last_login_at: at, failed_logins: 0, auto_locks: 0 }
      if (passwordHash !== undefined) update.password_hash = passwordHash
      const res = await inTurn(id, () => model.updateOne({ _id: id, ...loginsOpen(at) }, { $set: update }))
      return res.matchedCount === 1
    },
    async remove (id: string) {
      const filter = byId(id)
      if (filter === null) return false
      const res = await model.deleteOne(filter)
      return res.deletedCount === 1
    },
    async list (query: UserListQuery) {
      const filter: Record<string, unknown> = {}
      const key: Record<string, unknown> = {}
      if (query.afterKey !== undefined) key.$gt = query.afterKey
      if (query.keyContains !== undefined) key.$regex = escapeRegExp(query.keyContains)
      if (Object.keys(key).length > 0) filter.username_key = trusted(key)
      if (query.role !== undefined) filter.roles = query.role
      if (query.locked === true) filter.locked_until = trusted({ $gt: query.now })
      if (query.locked === false) filter.$or = unlockedAt(query.now)
      const docs = await model.find(filter).sort({ username_key: 1 }).limit(query.limit).lean<UserDoc[]>()
      return docs.map(toRecord)
    },
    async update (id: string, changes: UserChanges) {
      const filter = byId(id)
      if (filter === null) return null
      const set: Record<string, unknown> = {}
      if (changes.roles !== undefined) set.roles = changes.roles
      if (changes.email !== undefined) set.email = changes.email
      if (changes.lockNote !== undefined) set.lock_note = changes.lockNote
      const doc = Object.keys(set).length === 0
        ? await model.findOne(filter).lean<UserDoc>()
        : await inTurn(id, () => model.findOneAndUpdate(filter, { $set: set }, { returnDocument: 'after' }).lean<UserDoc>())
      return doc === null ? null : toRecord(doc)
    },
    async countActiveWithRole (role: string, now: Date, exceptId?: string) {
      const filter: Record<string, unknown> = { roles: role, $or: unlockedAt(now) }
      if (exceptId !== undefined && isValidObjectId(exceptId)) filter._id = trusted({ $ne: exceptId })
      return model.countDocuments(filter)
    }
  } satisfies UsersStore)
}

export default fp(usersStore, { name: 'users-store', fastify: '5.x', dependencies: ['db'] })
