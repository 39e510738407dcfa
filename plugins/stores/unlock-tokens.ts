import fp from 'fastify-plugin'
import { createHash, randomBytes } from 'node:crypto'
import { trusted } from 'mongoose'
import type { FastifyInstance } from 'fastify'
import { unlockTokenModel } from '../../src/models/unlock-token'
import { oneAtATime } from '../../src/lib/one-at-a-time'
import '../db'

/** What spending a token found. */
export type Redemption =
  | { ok: true, userId: string }
  | { ok: false, reason: 'used' | 'expired', userId: string }
  | { ok: false, reason: 'unknown' }

export interface UnlockTokensStore {
  /**
   * A new single-use token for `userId`, valid until `expiresAt` (only its hash is stored), unless
   * one was made after `notSince`: then null. Checked and made one call at a time per user.
   */
  create(userId: string, at: Date, expiresAt: Date, notSince: Date): Promise<string | null>
  /** Spends a token atomically: one caller gets ok, every later one `used`. */
  redeem(token: string, now: Date): Promise<Redemption>
  /** Spends every token of a user still unused (after an unlock, the other links must not unlock a later lock). */
  spendAll(userId: string, at: Date): Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    unlockTokens: UnlockTokensStore
  }
}

const hash = (token: string): string => createHash('sha256').update(token).digest('base64url')

interface TokenDoc {
  _id: string
  user_id: string
  expires_at: Date
  used_at?: Date | null
}

/** The only code that touches `unlock_tokens`. */
async function unlockTokensStore (fastify: FastifyInstance): Promise<void> {
  const model = unlockTokenModel(fastify.db.connection)
  await fastify.db.ensureIndexes(model)
  // One redemption of a token, and one creation per user, at a time in this process (FerretDB 1.x
  // does not make concurrent updates atomic).
  const inTurn = oneAtATime()

  fastify.decorate('unlockTokens', {
    async create (userId: string, at: Date, expiresAt: Date, notSince: Date) {
      return inTurn(`user:${userId}`, async () => {
        if (await model.exists({ user_id: userId, created_at: trusted({ $gt: notSince }) }) !== null) return null
        const token = randomBytes(32).toString('base64url')
        await model.create({ _id: hash(token), user_id: userId, created_at: at, expires_at: expiresAt })
        return token
      })
    },
    async redeem (token: string, now: Date): Promise<Redemption> {
      const id = hash(token)
      const spent = await inTurn(id, () => model.findOneAndUpdate(
        { _id: id, used_at: null, expires_at: trusted({ $gt: now }) },
        { $set: { used_at: now } }
      ).lean<TokenDoc>())
      if (spent !== null) return { ok: true, userId: spent.user_id }
      const doc = await model.findOne({ _id: id }).lean<TokenDoc>()
      if (doc === null) return { ok: false, reason: 'unknown' }
      return { ok: false, reason: doc.used_at != null ? 'used' : 'expired', userId: doc.user_id }
    },
    async spendAll (userId: string, at: Date) {
      await model.updateMany({ user_id: userId, used_at: null }, { $set: { used_at: at } })
    }
  } satisfies UnlockTokensStore)
}

export default fp(unlockTokensStore, { name: 'unlock-tokens-store', fastify: '5.x', dependencies: ['db'] })
