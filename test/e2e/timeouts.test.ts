import t from 'tap'
import { build } from '../helper'
import { loadConfig } from '../../src/config'
import { listen, rawRequest } from '../socket'

t.test('a body that never finishes ends with 408 within REQUEST_TIMEOUT', async (t) => {
  const app = await build(t, { REQUEST_TIMEOUT: '1' })
  const port = await listen(app)
  const head = 'POST /auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n'
  const res = await rawRequest(port, `${head}{"username":`, { limitMs: 10_000 })
  t.equal(res.timedOut, false, `answered (after ${res.elapsedMs} ms)`)
  t.equal(res.status, 408)
  t.same(JSON.parse(res.body), { error: 'request_timeout', message: 'The request was not received in time' })
  t.ok(res.elapsedMs >= 900, `not before the timeout (${res.elapsedMs} ms)`)
  t.ok(res.elapsedMs < 4000, `within the timeout and one check interval (${res.elapsedMs} ms)`)
})

t.test('headers that never finish end with 408 within REQUEST_TIMEOUT', async (t) => {
  const app = await build(t, { REQUEST_TIMEOUT: '1' })
  const port = await listen(app)
  const res = await rawRequest(port, 'GET /health/live HTTP/1.1\r\nHost: localhost\r\nX-Slow: 1', { limitMs: 10_000 })
  t.equal(res.timedOut, false, `answered (after ${res.elapsedMs} ms)`)
  t.equal(res.status, 408)
  t.equal(JSON.parse(res.body).error, 'request_timeout')
  t.ok(res.elapsedMs < 4000, `${res.elapsedMs} ms`)
})

t.test('timeouts are durations with sane defaults', async (t) => {
  const c = loadConfig({})
  t.equal(c.requestTimeout, 10)
  t.equal(c.keepAliveTimeout, 72)
  t.equal(loadConfig({ REQUEST_TIMEOUT: '30s', KEEP_ALIVE_TIMEOUT: '5' }).requestTimeout, 30)
  t.equal(loadConfig({ KEEP_ALIVE_TIMEOUT: '5' }).keepAliveTimeout, 5)
  t.throws(() => loadConfig({ REQUEST_TIMEOUT: '0' }), /^REQUEST_TIMEOUT /)
  t.throws(() => loadConfig({ KEEP_ALIVE_TIMEOUT: 'never' }), /^KEEP_ALIVE_TIMEOUT /)
})
