import t from 'tap'
import Fastify from 'fastify'
import { mongo } from 'mongoose'
import errorHandler from '../../plugins/error-handler'
import { errors } from '../../src/errors'
import { build } from '../helper'

t.test('unexpected errors become a bare 500 without detail', async (t) => {
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'error', stream: { write: (line: string) => logs.push(line) } } })
  await app.register(errorHandler)
  app.get('/boom', async () => { throw new Error('secret internal detail at /srv/db.js:12') })
  app.get('/typed', async () => { throw new errors.UsernameTaken() })
  t.teardown(() => app.close())

  const res = await app.inject({ url: '/boom' })
  t.equal(res.statusCode, 500)
  t.same(res.json(), { error: 'internal_error', message: 'Internal server error' })
  t.notMatch(res.body, 'secret internal detail')
  t.match(logs.join(''), 'secret internal detail', 'the detail is logged for operators')

  const typed = await app.inject({ url: '/typed' })
  t.equal(typed.statusCode, 409)
  t.same(typed.json(), { error: 'username_taken', message: 'This username is already taken' })
})

t.test('an unreachable database is a 503 unavailable with Retry-After, not logged per request', async (t) => {
  const logs: string[] = []
  const app = Fastify({ logger: { level: 'error', stream: { write: (line: string) => logs.push(line) } } })
  await app.register(errorHandler)
  const unreachable = [
    new mongo.MongoServerSelectionError('Server selection timed out after 1000 ms', { type: 'Unknown', servers: new Map() } as never),
    new mongo.MongoNetworkError('connection 3 to 127.0.0.1:27017 closed'),
    new mongo.MongoNotConnectedError('Client must be connected before running operations'),
    // what the driver lets through when it writes a command on a connection the server just closed
    Object.assign(new Error('This socket has been ended by the other party'), { code: 'EPIPE' }),
    Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read' })
  ]
  unreachable.forEach((err, i) => app.get(`/db/${i}`, async () => { throw err }))
  t.teardown(() => app.close())
  for (const i of unreachable.keys()) {
    const res = await app.inject({ url: `/db/${i}` })
    t.equal(res.statusCode, 503, unreachable[i].message)
    t.same(res.json(), { error: 'unavailable', message: 'Temporarily unavailable; retry shortly' })
    t.equal(res.headers['retry-after'], '1')
  }
  t.same(logs, [], 'the db plugin logs the outage once instead')
})

t.test('unknown routes and unsupported bodies answer in the contract shape', async (t) => {
  const app = await build(t)
  const missing = await app.inject({ url: '/nope?x=1' })
  t.equal(missing.statusCode, 404)
  t.same(missing.json(), { error: 'not_found', message: 'Route GET /nope not found' })

  const xml = await app.inject({ method: 'POST', url: '/auth/login', headers: { 'content-type': 'application/xml' }, payload: '<a/>' })
  t.equal(xml.statusCode, 415)
  t.equal(xml.json().error, 'unsupported_media_type')

  const huge = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'a', password: 'x'.repeat(100_000) } })
  t.equal(huge.statusCode, 413)
  t.equal(huge.json().error, 'payload_too_large')
})

t.test('form-encoded bodies are accepted like JSON', async (t) => {
  const app = await build(t)
  const res = await app.inject({
    method: 'POST',
    url: '/auth/register',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'username=henry&password=correct+horse+battery+staple'
  })
  t.equal(res.statusCode, 201)
})
