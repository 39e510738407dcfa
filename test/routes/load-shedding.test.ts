import t from 'tap'
import { build, eventually } from '../helper'
import { SHED_RETRY_AFTER } from '../../plugins/load-shedding'

t.test('over the heap threshold: 503 unavailable with Retry-After, ready 503, live and metrics 200', async (t) => {
  // 1 MiB: any running process is above it from the first sample on, and stays there
  const app = await build(t, { MAX_HEAP_USED_MB: '1', MAX_EVENT_LOOP_DELAY_MS: '0' })
  // the shedding answers before the token is looked at (401 otherwise)
  const verify = () => app.inject({ url: '/auth/verify' })
  await eventually(async () => (await verify()).statusCode === 503, 5000, 'requests to be shed')

  const shed = await verify()
  t.equal(shed.statusCode, 503)
  t.same(shed.json(), { error: 'unavailable', message: 'Temporarily unavailable; retry shortly' })
  t.equal(shed.headers['retry-after'], String(SHED_RETRY_AFTER))
  const login = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'alice', password: 'correct horse battery staple' } })
  t.equal(login.statusCode, 503, 'logins too, before any password is checked')
  t.equal((await app.inject({ url: '/no/such/route' })).statusCode, 503, 'and paths that match no route')

  const ready = await app.inject({ url: '/health/ready' })
  t.equal(ready.statusCode, 503, 'ready: take this instance out of the pool')
  t.equal(ready.json().error, 'unavailable')
  t.equal(ready.headers['retry-after'], String(SHED_RETRY_AFTER))
  t.equal((await app.inject({ url: '/health/live' })).statusCode, 200, 'live: do not restart it')

  const metrics = await app.inject({ url: '/metrics' })
  t.equal(metrics.statusCode, 200, 'metrics keep answering')
  t.match(metrics.body, /^warden_under_pressure 1$/m)
  t.match(metrics.body, /^warden_shed_requests_total [1-9]\d*$/m)
  t.match(metrics.body, /^warden_http_requests_total\{route="\/auth\/verify",method="GET",status_code="503"\} [1-9]/m)
})

t.test('a blocked event loop sheds requests; below the thresholds nothing is', async (t) => {
  const app = await build(t, { MAX_EVENT_LOOP_DELAY_MS: '1', MAX_HEAP_USED_MB: '0' })
  const calm = await build(t)
  // a busy loop, as a slow synchronous computation would block it
  const end = Date.now() + 400
  while (Date.now() < end) { /* blocking */ }
  await eventually(async () => (await app.inject({ url: '/health/ready' })).statusCode === 503, 5000, 'the delay to be noticed')
  t.pass('ready answered 503 after the event loop was blocked')
  t.equal((await app.inject({ url: '/health/live' })).statusCode, 200)
  t.equal((await calm.inject({ url: '/health/ready' })).statusCode, 200, 'the default thresholds (1 s delay, 90% of the heap limit) were not reached')
})
