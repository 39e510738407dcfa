import fp from 'fastify-plugin'
import { background } from '../../src/lib/background'
import { createHash, randomBytes } from 'node:crypto'
import { trusted } from 'mongoose'
import type { FastifyInstance } from 'fastify'
import type { Origin } from '../../src/lib/origin'
import { deviceModel } from '../../src/models/device'
import { oneAtATime } from '../../src/lib/one-at-a-time'
import type { LoginCount } from './users'
import '../config'
import '../db'

export interface DeviceRecord {
  id: string
  userId: string
  createdAt: Date
  lastUsedAt: Date
}

export interface NewDevice {
  id: string
  /** Opaque, 256 bits; only its SHA-256 is stored. */
  token: string
}

export interface DevicesStore {
  /**
   * Makes a device known for `userId`. A user keeps at most MAX_DEVICES_PER_USER: the least
   * recently used go, in the background once the new one is stored (awaited when the app closes).
   */
  create(userId: string, origin: Origin, at: Date): Promise<NewDevice>
  /** Forgets a device (one made for a login that was then refused). */
  remove(id: string): Promise<void>
  /** The device a token belongs to, or null. */
  findByToken(token: string): Promise<DeviceRecord | null>
  /** As the users store's: counts one attempt of this device unless `threshold` are counted or it is blocked. */
  reserveAttempt(id: string, threshold: number, now: Date): Promise<LoginCount | null>
  /** The device's count as it stands. */
  count(id: string): Promise<LoginCount | null>
  /** As the users store's: blocks the device until `until` when the count still reached `threshold`; one caller wins. */
  claimLock(id: string, threshold: number, locks: number, until: Date): Promise<boolean>
  /** A successful login from the device: clears its counts and marks it used, unless it was blocked meanwhile. */
  recordSuccess(id: string, at: Date): Promise<boolean>
}

declare module 'fastify' {
  interface FastifyInstance {
    devices: DevicesStore
  }
}

/** Devices kept per user: enough for every browser and client a person uses. */
export const MAX_DEVICES_PER_USER = 20

export function hashDeviceToken (token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}

interface DeviceDoc {
  _id: string
  user_id: string
  created_at: Date
  last_used_at: Date
  failed_logins?: number
  locks?: number
  blocked_until?: Date | null
}

function toRecord (doc: DeviceDoc): DeviceRecord {
  return { id: doc._id, userId: doc.user_id, createdAt: doc.created_at, lastUsedAt: doc.last_used_at }
}

function toCount (doc: DeviceDoc): LoginCount {
  return { failedLogins: doc.failed_logins ?? 0, autoLocks: doc.locks ?? 0, blockedUntil: doc.blocked_until?.getTime() ?? 0 }
}

const open = (now: Date) => ({ $or: [{ blocked_until: null }, { blocked_until: trusted({ $lte: now }) }] })

/** The only code that touches `devices`. */
async function devicesStore (fastify: FastifyInstance): Promise<void> {
  const model = deviceModel(fastify.db.connection, fastify.config.knownDevices.ttl)
  await fastify.db.ensureIndexes(model)
  // One count update per device at a time in this process (FerretDB 1.x loses concurrent ones).
  const inTurn = oneAtATime()

  /** Prunes still running, awaited when the app closes. */
  const inBackground = background(fastify)
  async function prune (userId: string): Promise<void> {
    const stale = await model.find({ user_id: userId }, { _id: 1 }).sort({ last_used_at: -1 }).skip(MAX_DEVICES_PER_USER).lean<Array<{ _id: string }>>()
    if (stale.length > 0) await model.deleteMany({ _id: trusted({ $in: stale.map((d) => d._id) }) })
  }

  fastify.decorate('devices', {
    async create (userId: string, origin: Origin, at: Date) {
      const id = randomBytes(12).toString('base64url')
      const token = randomBytes(32).toString('base64url')
      await model.create({
        _id: id,
        user_id: userId,
        token_hash: hashDeviceToken(token),
        created_at: at,
        last_used_at: at,
        ip: origin.ip,
        user_agent: origin.userAgent
      })
      inBackground(prune(userId).catch((err: unknown) => {
        fastify.log.warn({ err: { message: (err as Error).message } }, 'the least recently used devices could not be pruned: the next new device prunes them')
      }))
      return { id, token }
    },
    async remove (id: string) {
      await model.deleteOne({ _id: id })
    },
    async findByToken (token: string) {
      const doc = await model.findOne({ token_hash: hashDeviceToken(token) }).lean<DeviceDoc>()
      return doc === null ? null : toRecord(doc)
    },
    // findOneAndUpdate without a projection: FerretDB 1.x does not support one in findAndModify.
    async reserveAttempt (id: string, threshold: number, now: Date) {
      const doc = await inTurn(id, () => model.findOneAndUpdate(
        { _id: id, failed_logins: trusted({ $not: { $gte: threshold } }), ...open(now) },
        { $inc: { failed_logins: 1 } },
        { returnDocument: 'after' }
      ).lean<DeviceDoc>())
      return doc === null ? null : toCount(doc)
    },
    async count (id: string) {
      const doc = await inTurn(id, () => model.findOne({ _id: id }).lean<DeviceDoc>())
      return doc === null ? null : toCount(doc)
    },
    async claimLock (id: string, threshold: number, locks: number, until: Date) {
      const res = await inTurn(id, () => model.updateOne(
        { _id: id, failed_logins: trusted({ $gte: threshold }), locks: locks === 0 ? trusted({ $in: [0, null] }) : locks },
        { $set: { failed_logins: 0, locks: locks + 1, blocked_until: until } }
      ))
      return res.modifiedCount === 1
    },
    async recordSuccess (id: string, at: Date) {
      const res = await inTurn(id, () => model.updateOne({ _id: id, ...open(at) }, { $set: { failed_logins: 0, locks: 0, last_used_at: at } }))
      return res.matchedCount === 1
    }
  } satisfies DevicesStore)
}

export default fp(devicesStore, { name: 'devices-store', fastify: '5.x', dependencies: ['config', 'db'] })
