import fp from 'fastify-plugin'
import { isValidObjectId } from 'mongoose'
import type { FastifyInstance } from 'fastify'
import { errors } from '../../src/errors'
import { userModel } from '../../src/models/user'
import '../db'

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
}

export interface NewUser {
  username: string
  usernameKey: string
  email: string | null
  passwordHash: string
  roles: string[]
}

export interface UsersStore {
  /** Inserts a user; throws UsernameTaken when the key is already used. */
  create(user: NewUser): Promise<UserRecord>
  findById(id: string): Promise<UserRecord | null>
  findByUsernameKey(key: string): Promise<UserRecord | null>
  existsWithKey(key: string): Promise<boolean>
  existsWithRole(role: string): Promise<boolean>
  /** Stamps a successful login; replaces the password hash when one is given (rehash). */
  recordLogin(id: string, at: Date, passwordHash?: string): Promise<void>
  /** Writes the lock state of a user (`until` null: unlocked). False when there is no such user. */
  setLock(id: string, until: Date | null, reason: string | null): Promise<boolean>
  /** Deletes a user; false when there was none. */
  remove(id: string): Promise<boolean>
  /** Replaces a user's password hash; false when there is no such user. */
  setPasswordHash(id: string, passwordHash: string): Promise<boolean>
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
}

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
    lockReason: doc.lock_reason ?? null
  }
}

const DUPLICATE_KEY = 11000

/** The only code that reads or writes the `users` collection. */
async function usersStore (fastify: FastifyInstance): Promise<void> {
  const model = userModel(fastify.db.connection)
  await fastify.db.ensureIndexes(model)

  const byId = (id: string) => isValidObjectId(id) ? { _id: id } : null

  fastify.decorate('users', {
    async create (user: NewUser) {
      try {
        const doc = await model.create({
          username: user.username,
          username_key: user.usernameKey,
          email: user.email,
          password_hash: user.passwordHash,
          roles: user.roles
        })
        return toRecord(doc.toObject() as UserDoc)
      } catch (err) {
        if ((err as { code?: number }).code === DUPLICATE_KEY) throw new errors.UsernameTaken()
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
    async existsWithRole (role: string) {
      return await model.exists({ roles: role }) !== null
    },
    async recordLogin (id: string, at: Date, passwordHash?: string) {
      const update: Record<string, unknown> = { last_login_at: at }
      if (passwordHash !== undefined) update.password_hash = passwordHash
      await model.updateOne({ _id: id }, { $set: update })
    },
    async setLock (id: string, until: Date | null, reason: string | null) {
      const filter = byId(id)
      if (filter === null) return false
      const res = await model.updateOne(filter, { $set: { locked_until: until, lock_reason: reason } })
      return res.matchedCount === 1
    },
    async remove (id: string) {
      const filter = byId(id)
      if (filter === null) return false
      const res = await model.deleteOne(filter)
      return res.deletedCount === 1
    },
    async setPasswordHash (id: string, passwordHash: string) {
      const filter = byId(id)
      if (filter === null) return false
      const res = await model.updateOne(filter, { $set: { password_hash: passwordHash } })
      return res.matchedCount === 1
    }
  } satisfies UsersStore)
}

export default fp(usersStore, { name: 'users-store', fastify: '5.x', dependencies: ['db'] })
