import t from 'tap'
import { mongo } from 'mongoose'
import { build, register, type Teardown } from './helper'
import { testDatabaseUri, dropTestDatabase } from './db'

type Call = { method: string, collection: string, filter?: unknown }

/**
 * Records the index builds and the reads of the driver's collections of database `dbName` until
 * the test ends: every connection of the app goes through these methods.
 */
function spyOnDriver (t: Teardown, dbName: string): Call[] {
  const calls: Call[] = []
  const proto = mongo.Collection.prototype as unknown as Record<string, (...args: unknown[]) => unknown>
  for (const method of ['createIndex', 'createIndexes', 'find']) {
    const original = proto[method]
    proto[method] = function (this: mongo.Collection, ...args: unknown[]) {
      if (this.dbName === dbName) calls.push({ method, collection: this.collectionName, filter: args[0] })
      return original.apply(this, args)
    }
    t.teardown(() => { proto[method] = original })
  }
  return calls
}

async function indexesOf (db: mongo.Db): Promise<string[]> {
  const names: string[] = []
  for (const { name } of await db.listCollections({}, { nameOnly: true }).toArray()) {
    for (const index of await db.collection(name).listIndexes().toArray()) names.push(`${name}.${String(index.name)}`)
  }
  return names.sort()
}

t.test('a second start on the same database builds no index and does not run the username backfill again', async (t) => {
  const uri = testDatabaseUri()
  t.teardown(() => dropTestDatabase(uri))
  const first = await build(t, { MONGODB_URI: uri })
  await register(first, 'alice')
  const indexes = await indexesOf(first.db.connection.db as mongo.Db)
  t.ok(indexes.length > 10, `the first start built the indexes (${indexes.length})`)
  const [migration] = await (first.db.connection.db as mongo.Db).collection('migrations').find().toArray()
  t.match(migration, { _id: 'username-key-and-skeleton', done_at: Date }, 'and recorded the backfill as done')
  await first.close()

  const calls = spyOnDriver(t, first.db.connection.name)
  const second = await build(t, { MONGODB_URI: uri })
  const db = second.db.connection.db as mongo.Db
  t.ok(calls.some((c) => c.method === 'find'), 'the spy sees the second start read the database')
  t.same(calls.filter((c) => c.method !== 'find'), [], 'no createIndex or createIndexes call')
  const backfill = calls.filter((c) => c.collection === 'users' && JSON.stringify(c.filter).includes('username_skeleton'))
  t.same(backfill, [], 'no scan for users without a skeleton: the backfill did not run')
  t.same(await indexesOf(db), indexes, 'the same indexes, none added')
  t.same(await db.collection('migrations').find().toArray(), [migration], 'the migration record is unchanged')
  t.equal((await second.inject({ method: 'POST', url: '/auth/login', payload: { username: 'alice', password: 'wrong password here' } })).statusCode, 401, 'and the second instance serves the first one\'s accounts')
})
