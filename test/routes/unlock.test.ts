import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, PASSWORD, type Teardown } from '../helper'
import { attempt, advanceClock, eventually, ip, PROXIED, WRONG } from '../brute-force'
import { startSmtp } from '../smtp'

async function lockedAccount (t: Teardown, env: Record<string, string> = {}) {
  const app = await build(t, { ...PROXIED, LOCKOUT_THRESHOLD: '2', ...env })
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'alice', password: PASSWORD, email: 'alice@example.com' } })
  const user = res.json<{ id: string }>()
  for (let i = 0; i < 2; i++) await attempt(app, 'alice', WRONG, { ip: ip(i) })
  if (!app.accountState.isLocked(user.id)) throw new Error('not locked')
  return { app, user }
}

const requestLink = (app: FastifyInstance, username: string) =>
  app.inject({ method: 'POST', url: '/auth/unlock/request', payload: { username } })

const unlock = (app: FastifyInstance, token: string) =>
  app.inject({ method: 'POST', url: '/auth/unlock', payload: { token } })

/** The link's token in a mail or outbox text. */
const tokenIn = (text: string): string => {
  const match = /\/auth\/unlock\?token=([A-Za-z0-9_-]+)/.exec(text)
  if (match === null) throw new Error(`no unlock link in: ${text}`)
  return match[1]
}

t.test('self-service unlock end to end through a real SMTP server', async (t) => {
  const mail = await startSmtp(t)
  const { app, user } = await lockedAccount(t, { NOTIFIER: 'smtp', SMTP_URL: mail.url, MAIL_FROM: 'Warden <warden@example.com>', JWT_ISSUER: 'https://auth.example.com' })

  const notice = await mail.next('alice@example.com', /locked/)
  t.match(notice.text, /locked after 2 failed sign-in attempts/, 'the owner is told of the lock')
  t.match(notice.from?.text, 'warden@example.com')

  const res = await requestLink(app, 'ALICE')
  t.equal(res.statusCode, 202)
  t.equal(res.body, '')
  const message = await mail.next('alice@example.com', /Unlock/)
  const token = tokenIn(message.text ?? '')
  t.match(message.text, `https://auth.example.com/auth/unlock?token=${token}`, 'the link points at JWT_ISSUER')
  t.equal((await attempt(app, 'alice', PASSWORD, { ip: ip(9) })).statusCode, 403, 'still locked until the link is used')

  const done = await unlock(app, token)
  t.equal(done.statusCode, 204)
  t.equal(app.accountState.isLocked(user.id), false)
  t.equal((await attempt(app, 'alice', PASSWORD, { ip: ip(9) })).statusCode, 200)

  const page = await app.inject({ url: `/auth/unlock?token=${token}` })
  t.equal(page.statusCode, 200, 'the link opens a page')
  t.match(page.headers['content-type'], 'text/html')
  t.match(page.body, /^<!doctype html>/, 'served as HTML, not as a JSON string')
  t.equal(app.accountState.isLocked(user.id), false)

  const events = await app.loginEvents.find({ userId: user.id }, 50)
  t.match(events.find((e) => e.type === 'unlock_request'), { outcome: 'success', reason: 'self_service' })
  t.match(events.find((e) => e.type === 'unlock'), { outcome: 'success', reason: 'self_service', actor_id: user.id })
  t.notMatch(JSON.stringify(events), token, 'no token in an event')
  t.notMatch(JSON.stringify(await app.db.connection.collection('unlock_tokens').find({}).toArray()), token, 'only its hash is stored')
})

t.test('a used, expired or unknown unlock token: 400 invalid_token', async (t) => {
  const { app, user } = await lockedAccount(t)
  await app.selfServiceUnlock.request('alice', { ip: '127.0.0.1', userAgent: null, requestId: 'test' })
  const [link] = (await app.notifier.outbox('alice@example.com')).filter((n) => n.kind === 'unlock_link')
  const token = tokenIn(link.text)

  t.equal((await unlock(app, token)).statusCode, 204)
  const used = await unlock(app, token)
  t.equal(used.statusCode, 400)
  t.same(used.json(), { error: 'invalid_token', message: 'The unlock token is invalid, expired or already used' })
  t.notOk(used.headers['www-authenticate'], 'not a bearer challenge')
  t.equal((await unlock(app, 'x'.repeat(43))).statusCode, 400)

  // locked again; this link is left to expire
  for (let i = 0; i < 2; i++) await attempt(app, 'alice', WRONG, { ip: ip(20 + i) })
  t.equal(app.accountState.isLocked(user.id), true)
  advanceClock(t, 61_000) // past the one-link-per-minute interval
  await app.selfServiceUnlock.request('alice', { ip: '127.0.0.1', userAgent: null, requestId: 'test' })
  const [second] = (await app.notifier.outbox('alice@example.com')).filter((n) => n.kind === 'unlock_link')
  const expiring = tokenIn(second.text)
  t.not(expiring, token)
  advanceClock(t, 61_000 + 31 * 60_000)
  const expired = await unlock(app, expiring)
  t.equal(expired.statusCode, 400, 'expired after 30 minutes')
  t.match((await app.loginEvents.find({ type: 'unlock', outcome: 'failure' })).map((e) => e.reason), ['expired', 'used'])
})

t.test('POST /auth/unlock/request always answers 202; a link goes only to an automatically locked account with an e-mail', async (t) => {
  const { app, user } = await lockedAccount(t)
  await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'bob', password: PASSWORD, email: 'bob@example.com' } })
  await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'carol', password: PASSWORD } })
  const carol = await app.users.findByUsernameKey('carol')
  await app.accountState.lock(carol?.id as string, { reason: 'auto_threshold' })

  const answers = await Promise.all(['nobody', 'bob', 'carol', 'alice', 'alice'].map((u) => requestLink(app, u)))
  t.same(answers.map((a) => a.statusCode), [202, 202, 202, 202, 202])
  t.same(new Set(answers.map((a) => a.body)).size, 1, 'one answer for every case')
  const events = await eventually(async () => {
    const found = await app.loginEvents.find({ type: 'unlock_request' }, 20)
    return found.length === 5 ? found : undefined
  }, 10_000, 'five unlock_request events')
  t.same(events.map((e) => `${e.username}:${e.reason}`).sort(), ['alice:recently_sent', 'alice:self_service', 'bob:not_locked', 'carol:no_email', 'nobody:unknown_user'])
  t.equal((await app.notifier.outbox('alice@example.com')).filter((n) => n.kind === 'unlock_link').length, 1, 'one link per minute at most')

  // an administrator's lock is the administrator's to lift
  await app.accountState.lock(user.id, { reason: 'admin' })
  advanceClock(t, 61_000)
  await app.selfServiceUnlock.request('alice', { ip: '127.0.0.1', userAgent: null, requestId: 'test' })
  t.equal((await app.notifier.outbox('alice@example.com')).filter((n) => n.kind === 'unlock_link').length, 1, 'no link for an admin lock')
  const [link] = (await app.notifier.outbox('alice@example.com')).filter((n) => n.kind === 'unlock_link')
  t.equal((await unlock(app, tokenIn(link.text))).statusCode, 400, 'an earlier link does not lift an admin lock')
  t.equal(app.accountState.lockOf(user.id)?.reason, 'admin')
})

t.test('validation: a missing or malformed body is a 400, never a 500', async (t) => {
  const app = await build(t)
  for (const [url, payload] of [['/auth/unlock', {}], ['/auth/unlock', { token: { $ne: null } }], ['/auth/unlock/request', {}], ['/auth/unlock/request', { username: { $ne: null } }]] as const) {
    const res = await app.inject({ method: 'POST', url, payload })
    t.equal(res.statusCode, 400, `${url} ${JSON.stringify(payload)}`)
    t.equal(res.json().error, 'validation_error')
  }
})
