import t from 'tap'
import { build } from '../helper'

t.test('live and ready answer 200 while the database answers', async (t) => {
  const app = await build(t)
  const live = await app.inject({ url: '/health/live' })
  t.equal(live.statusCode, 200)
  t.same(live.json(), { status: 'ok' })
  const ready = await app.inject({ url: '/health/ready' })
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ok' })
})

t.test('ready answers 503 once the database is gone; live stays 200', async (t) => {
  const app = await build(t)
  await app.db.connection.close()
  const ready = await app.inject({ url: '/health/ready' })
  t.equal(ready.statusCode, 503)
  t.same(ready.json(), { error: 'not_ready', message: 'The database is not answering' })
  t.equal((await app.inject({ url: '/health/live' })).statusCode, 200)
})
