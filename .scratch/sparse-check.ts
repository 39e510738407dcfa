import { startDatabase } from '../src/lib/embedded-db'
import { mongo } from 'mongoose'
async function main () {
  const db = await startDatabase({ dataDir: '/tmp/sparse-data', reuse: false, log: () => {} })
  const client = new mongo.MongoClient(db.uri.replace(/\/[^/]*$/, '/sparsetest'))
  await client.connect()
  const c = client.db().collection('u')
  try { await c.createIndex({ s: 1 }, { unique: true, sparse: true }); console.log('sparse ok') } catch (e) { console.log('sparse err', (e as Error).message) }
  await c.insertOne({ a: 1 }); 
  try { await c.insertOne({ a: 2 }); console.log('two missing ok') } catch (e) { console.log('two missing err', (e as Error).message) }
  await c.insertOne({ a: 3, s: 'x' })
  try { await c.insertOne({ a: 4, s: 'x' }); console.log('dup allowed!') } catch (e) { console.log('dup refused', (e as any).code) }
  try { await c.createIndex({ t: 1 }, { unique: true, partialFilterExpression: { t: { $exists: true } } }); console.log('partial ok') } catch (e) { console.log('partial err', (e as Error).message) }
  console.log(await c.indexes())
  await client.close(); await db.stop()
}
main()
