import t from 'tap'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { mongo } from 'mongoose'
import { eventually, PASSWORD } from '../helper'
import { dropTestDatabase, testDatabaseUri } from '../db'
import { startWarden } from '../servers'
import { send, startLoad, type Answer, type Call } from './load'

/**
 * A Warden process under a steady load of logins and token checks, on kept-alive connections and
 * on one connection per request, is sent SIGTERM (then, in a second case, SIGINT). What the README
 * states ("Login history/Durability", "When something is away"): the requests it accepted are
 * answered, with their own answer or a 503 in the contract's shape, never a 5xx of another kind; the
 * buffered login events are written before it exits, with code 0. A request it did not accept ends
 * with a refused or reset connection, and then has no login event either.
 */

/** What a client may meet once the server stops accepting: a refused connection, or one closed before its request was read. */
const NOT_ACCEPTED = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE'])

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`${signal} under load: every accepted request answered, every answered login recorded, exit 0`, async (t) => {
    const uri = testDatabaseUri()
    const dataDir = mkdtempSync(join(tmpdir(), 'warden-shutdown-'))
    t.teardown(async () => {
      rmSync(dataDir, { recursive: true, force: true })
      await dropTestDatabase(uri)
    })
    // A wide group-commit window: at the signal, up to a second of events is still in memory.
    const warden = await startWarden(t, { MONGODB_URI: uri, DATA_DIR: dataDir, LOGIN_EVENT_BATCH_MS: '1000', RATE_LIMIT_AUTH_MAX: '1000000', LOG_LEVEL: 'info' })
    const post = (path: string, body: unknown): Call => ({ kind: 'login', method: 'POST', path, body })
    t.equal((await send(warden.url, { ...post('/auth/register', { username: 'alice', password: PASSWORD }), kind: 'register' }, 'setup')).status, 201)
    const issued = await send(warden.url, post('/auth/login', { username: 'alice', password: PASSWORD }), 'setup')
    const bearer = { authorization: `Bearer ${(issued.json as { access_token: string }).access_token}` }

    // Unknown names (one each, so each answer has one event to find) and alice's right password every third attempt.
    const login = (n: number): Call => {
      const username = n % 3 === 0 ? 'alice' : `ghost-${n}`
      return { ...post('/auth/login', { username, password: username === 'alice' ? PASSWORD : 'wrong-password' }), username }
    }
    const verify = (): Call => ({ kind: 'verify', method: 'GET', path: '/auth/verify', headers: bearer })
    const loads = [
      startLoad(warden.url, [login, login, login, verify, verify], { pauseMs: 5 }),
      startLoad(warden.url, [login, login, verify], { pauseMs: 5, keepAlive: false })
    ]
    const answers = (): Answer[] => loads.flatMap((load) => load.answers)
    const answeredLogins = (): Answer[] => answers().filter((a) => a.kind === 'login' && (a.status === 200 || a.status === 401))
    await eventually(async () => answeredLogins().length >= 12 && answers().filter((a) => a.status === 204).length >= 12, 60_000, 'answers before the signal')

    const signalledAt = Date.now()
    const exited = once(warden.child, 'exit')
    warden.child.kill(signal)
    const [code] = await exited
    const exitedAt = Date.now()
    await Promise.all(loads.map((load) => load.stop()))
    t.equal(code, 0, 'a clean exit')

    const all = answers()
    const during = all.filter((a) => a.sentAt + a.ms >= signalledAt && a.sentAt <= exitedAt)
    const count = (list: Answer[], f: (a: Answer) => boolean): number => list.filter(f).length
    t.comment(`${signal}: exit after ${exitedAt - signalledAt} ms; ${all.length} requests, ${during.length} in the shutdown: ` +
      `${count(during, (a) => a.status !== null && a.status < 500)} answered, ${count(during, (a) => a.status === 503)} answered 503, ` +
      `${count(during, (a) => a.error === 'ECONNREFUSED')} refused, ${count(during, (a) => a.error === 'ECONNRESET' || a.error === 'EPIPE')} reset before being read`)
    t.same(all.filter((a) => a.status !== null && a.status >= 500 && !(a.status === 503 && isUnavailable(a.json)))
      .map((a) => `${a.agent}: ${a.status} ${JSON.stringify(a.json)}`), [], 'no 5xx but a 503 in the contract\'s shape')
    t.same(all.filter((a) => a.status === null && !NOT_ACCEPTED.has(a.error ?? '')).map((a) => `${a.agent}: ${a.error}`), [], 'a request without an answer was refused or reset, never left hanging')
    t.same(all.filter((a) => a.status !== null && ![200, 204, 401, 503].includes(a.status)).map((a) => `${a.agent}: ${a.status}`), [], 'no other answer')

    // Every answered login has its event in the database; no other login has one.
    const client = new mongo.MongoClient(uri)
    t.teardown(() => client.close())
    const events = await client.db().collection('login_events').find({ type: 'login', user_agent: { $regex: '^login-' } }).toArray()
    const answered = answeredLogins()
    const byAgent = new Map<string, number>()
    for (const e of events) byAgent.set(e.user_agent as string, (byAgent.get(e.user_agent as string) ?? 0) + 1)
    t.same(answered.filter((a) => byAgent.get(a.agent) !== 1).map((a) => `${a.agent} (${a.status})`), [], `each of the ${answered.length} answered logins has exactly one event`)
    const others = all.filter((a) => a.kind === 'login' && !answered.includes(a) && byAgent.has(a.agent))
    t.same(others.map((a) => `${a.agent}: ${a.status ?? a.error}`), [], 'a login refused, reset or answered 503 has none: the server did not check it')
    t.equal(events.length, answered.length, 'events == answered attempts')
    t.equal(events.filter((e) => e.outcome === 'success').length, count(answered, (a) => a.status === 200), 'the successes among them')
    t.equal(warden.logs.filter((l) => l.msg === 'shutting down: finishing in-flight requests').length, 1, 'the shutdown is logged')
  })
}

function isUnavailable (body: unknown): boolean {
  const b = body as { error?: unknown, message?: unknown } | undefined
  return b?.error === 'unavailable' && typeof b.message === 'string' && Object.keys(b).length === 2
}
