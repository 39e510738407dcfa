import fp from 'fastify-plugin'
import argon2 from 'argon2'
import { randomBytes } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { createLimiter } from '../src/lib/limiter'
import type { FastifyInstance } from 'fastify'
import './config'

export interface Passwords {
  hash(password: string): Promise<string>
  /** False for a wrong password and for a malformed hash. */
  verify(hash: string, password: string): Promise<boolean>
  /**
   * Spends the same time as `verify` against a hash no password matches: used for
   * unknown usernames so that they cannot be told apart from wrong passwords by timing.
   */
  verifyDummy(password: string): Promise<false>
  /** True when a stored hash was made with weaker parameters than the current ones. */
  needsRehash(hash: string): boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    passwords: Passwords
  }
}

/**
 * Argon2id hashing with the configured cost (never below OWASP's minimum). At most one
 * computation per core runs at a time: more would not finish sooner, and each holds its
 * memory cost (19 MiB by default) that the allocator then keeps.
 */
async function passwords (fastify: FastifyInstance): Promise<void> {
  const options = { type: argon2.argon2id as 2, ...fastify.config.argon2 }
  const limit = createLimiter(availableParallelism())
  const dummyHash = await argon2.hash(randomBytes(32).toString('base64url'), options)

  async function verify (hash: string, password: string): Promise<boolean> {
    try {
      return await limit(() => argon2.verify(hash, password))
    } catch {
      return false
    }
  }

  fastify.decorate('passwords', {
    hash: (password: string) => limit(() => argon2.hash(password, options)),
    verify,
    async verifyDummy (password: string) {
      await verify(dummyHash, password)
      return false
    },
    needsRehash: (hash: string) => argon2.needsRehash(hash, options)
  } satisfies Passwords)
}

export default fp(passwords, { name: 'passwords', fastify: '5.x', dependencies: ['config'] })
