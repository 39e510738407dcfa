import { testDatabaseUri, dropTestDatabase } from '../test/db'
import { startDatabase } from '../src/lib/embedded-db'
import { mongo } from 'mongoose'
async function main (): Promise<void> {
  for (const u of ['mongodb://a:b@h1:1,h2:2/prod?replicaSet=rs0&tls=true', 'mongodb+srv://u:p@c.example.net/?retryWrites=true', 'mongodb://h:27017', 'mongodb://u:p@h/x?authSource=admin']) {
    process.env.MONGODB_URI = u
    console.log(u, '->', testDatabaseUri())
  }
  const db = await startDatabase({ dataDir: '/tmp/edtest/dbcheck', reuse: false })
  process.env.MONGODB_URI = db.uri
  const uri = testDatabaseUri()
  const c = new mongo.MongoClient(uri); await c.db().collection('x').insertOne({ a: 1 })
  console.log('dbs before', (await c.db().admin().listDatabases()).databases.map(d => d.name))
  await dropTestDatabase(uri)
  console.log('dbs after', (await c.db().admin().listDatabases()).databases.map(d => d.name))
  await c.close(); await db.stop()
}
main().catch(e => { console.error(e); process.exit(1) })
