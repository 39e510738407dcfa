import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { migrationModel } from '../../src/models/migration'
import { isDuplicateKey } from '../db'

export interface MigrationsStore {
  /**
   * Runs `migrate` unless a migration of that name has completed on this database, then records
   * it. Instances starting together may both run it: a migration must be safe to repeat.
   */
  once(name: string, migrate: () => Promise<void>): Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    migrations: MigrationsStore
  }
}

/** The record of one-time data migrations. The only code that touches `migrations`. */
async function migrationsStore (fastify: FastifyInstance): Promise<void> {
  const model = migrationModel(fastify.db.connection)

  fastify.decorate('migrations', {
    async once (name: string, migrate: () => Promise<void>) {
      if (await model.exists({ _id: name }) !== null) return
      await migrate()
      try {
        await model.updateOne({ _id: name }, { $setOnInsert: { done_at: new Date() } }, { upsert: true })
      } catch (err) {
        // another instance, starting at the same time, recorded it first
        if (!isDuplicateKey(err)) throw err
      }
    }
  } satisfies MigrationsStore)
}

export default fp(migrationsStore, { name: 'migrations-store', fastify: '5.x', dependencies: ['db'] })
