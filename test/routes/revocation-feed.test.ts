import t from 'tap'
import { signUp, bearer, basic, decodePart } from '../helper'
import { listening, options, readEvents } from '../relying'
import { createVerifier } from '../../src/verifier'

t.test('the feed is for service clients only', async (t) => {
  const w = await listening(t)
  for (const headers of [{}, basic(w.client.client_id, 'wrong'), bearer((await signUp(w.app)).tokens.access_token)]) {
    const res = await fetch(`${w.url}/oauth/revocations`, { headers })
    t.equal(res.status, 401)
    t.equal(res.headers.get('www-authenticate'), 'Basic realm="warden"')
    t.match(await res.json(), { error: 'invalid_client' })
  }
  const bad = createVerifier(options(w, { feed: { url: `${w.url}/oauth/revocations`, clientId: w.client.client_id, clientSecret: 'wrong' }, readyTimeout: 1 }))
  t.teardown(() => bad.close())
  await t.rejects(bad.ready(), /did not answer within 1 s/)
})

t.test('a client that reconnects with Last-Event-ID gets the changes it missed, not a snapshot', async (t) => {
  const w = await listening(t)
  const alice = await signUp(w.app, 'alice')
  const bob = await signUp(w.app, 'bob')
  const headers = basic(w.client.client_id, w.client.client_secret)
  const url = `${w.url}/oauth/revocations`
  const aliceSid = decodePart(alice.tokens.access_token, 1).sid as string
  const bobSid = decodePart(bob.tokens.access_token, 1).sid as string

  const first = await readEvents(url, headers, (events) => {
    if (events.length === 1) void w.app.accountState.revokeSession(aliceSid)
    return events.some((e) => e.event === 'change')
  })
  t.equal(first.res.headers.get('content-type'), 'text/event-stream; charset=utf-8')
  t.match(first.events[0], { event: 'snapshot', data: { access_token_ttl: 900, clock_tolerance: 30, entries: [] } })
  const change = first.events.find((e) => e.event === 'change')
  t.match(change, { id: String, data: { kind: 'session_revoked', session_id: aliceSid, at: Number, until: Number } })
  const until = (change?.data as { until: number }).until
  t.ok(until <= Date.now() / 1000 + 900 + 1, 'held no longer than an access token lives')

  // missed while away
  await w.app.accountState.revokeSession(bobSid)
  const again = await readEvents(url, { ...headers, 'last-event-id': change?.id as string }, (events) => events.some((e) => e.event === 'change' && (e.data as { session_id?: string }).session_id === bobSid))
  t.match(again.events[0], { event: 'resumed', data: { access_token_ttl: 900 } })
  t.notOk(again.events.some((e) => e.event === 'snapshot'))

  const unknown = await readEvents(url, { ...headers, 'last-event-id': '0123456789abcdef01234567' }, (events) => events.length > 0)
  t.match(unknown.events[0], { event: 'snapshot' }, 'an id the feed no longer has: a snapshot')
  const entries = (unknown.events[0].data as { entries: Array<{ session_id?: string }> }).entries
  t.same(entries.map((e) => e.session_id).sort(), [aliceSid, bobSid].sort())
})

t.test('a lock is held by relying services only while tokens issued before it live', async (t) => {
  const w = await listening(t)
  const { user } = await signUp(w.app)
  await w.app.accountState.lock(user.id, { reason: 'admin' }) // permanent
  const { events } = await readEvents(`${w.url}/oauth/revocations`, basic(w.client.client_id, w.client.client_secret), (events) => events.length > 0)
  const [lock] = (events[0].data as { entries: Array<{ kind: string, at: number, until: number, user_id: string }> }).entries
  t.match(lock, { kind: 'lock', user_id: user.id })
  t.ok(lock.until - lock.at <= 900 + 30 + 1, `held ${lock.until - lock.at} s`)
})

