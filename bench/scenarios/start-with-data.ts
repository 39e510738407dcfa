import { randomBytes } from 'node:crypto'
import { mongo } from 'mongoose'
import { pairwise, round, verdict } from '../lib/figures'
import type { BenchContext, RoundResult, Row, Scenario } from '../lib/scenario'
import { median } from '../lib/stats'

/** Events and sessions seeded in the full run (a hundredth of each with --quick). */
const EVENTS = 1_000_000
const SESSIONS = 100_000
const USERS = 10_000
const BATCH = 10_000

/** The bench server's connection string with another database name. */
function withDatabase (uri: string, name: string): string {
  const url = new URL(uri)
  url.pathname = '/' + name
  return url.toString()
}

/**
 * Seeds a database as a busy deployment leaves it: users, sessions (some revoked), login events
 * and a journal of recent revocations and locks. Written straight to the collections in bulk:
 * the service's own code paths would take hours to produce this much history.
 */
async function seed (uri: string, events: number, sessions: number, log: (msg: string) => void): Promise<void> {
  const client = new mongo.MongoClient(uri)
  await client.connect()
  try {
    const db = client.db()
    const now = Date.now()
    const userIds = Array.from({ length: USERS }, () => new mongo.ObjectId())
    for (let i = 0; i < USERS; i += BATCH) {
      await db.collection('users').insertMany(userIds.slice(i, i + BATCH).map((_id, j) => ({
        _id, username: `seeded-${i + j}`, username_key: `seeded-${i + j}`, username_skeleton: `seeded-${i + j}`, email: null, password_hash: 'x', roles: ['user'],
        created_at: new Date(now), last_login_at: null, locked_until: null, lock_reason: null
      })))
    }
    for (let i = 0; i < sessions; i += BATCH) {
      await db.collection<{ _id: string }>('sessions').insertMany(Array.from({ length: Math.min(BATCH, sessions - i) }, (_, j) => ({
        _id: randomBytes(16).toString('base64url'),
        user_id: userIds[(i + j) % USERS],
        refresh_token_hash: randomBytes(32).toString('base64url'),
        created_at: new Date(now - j * 1000),
        expires_at: new Date(now + 30 * 86400_000),
        revoked_at: (i + j) % 10 === 0 ? new Date(now - 60_000) : null,
        ip: '127.0.0.1',
        user_agent: 'bench'
      })))
    }
    for (let i = 0; i < events; i += BATCH) {
      await db.collection('login_events').insertMany(Array.from({ length: Math.min(BATCH, events - i) }, (_, j) => ({
        type: 'login', outcome: (i + j) % 5 === 0 ? 'failure' : 'success', reason: null,
        user_id: userIds[(i + j) % USERS], username: `seeded-${(i + j) % USERS}`, ip: '127.0.0.1', user_agent: 'bench',
        at: new Date(now - (events - i - j) * 1000), session_id: null, actor_id: null, request_id: randomBytes(8).toString('hex')
      })))
      if ((i / BATCH) % 20 === 0) log(`start-with-data: ${i + BATCH} of ${events} events seeded`)
    }
    // what the instances must load at start: recent revocations and live locks
    await db.collection('state_changes').insertMany(Array.from({ length: 1000 }, (_, j) => j % 10 === 0
      ? { kind: 'lock', user_id: String(userIds[j]), session_id: null, kid: null, at: new Date(now), until: new Date(now + 3600_000) }
      : { kind: 'session_revoked', user_id: null, session_id: `revoked-${j}`, kid: null, at: new Date(now), until: new Date(now + 900_000) }))
  } finally {
    await client.close()
  }
}

/**
 * Start-up time as the data grows: a Warden child on a database holding a million login
 * events and a hundred thousand sessions, next to one on a database holding nothing but its
 * indexes and key, started alternately. Whatever start-up reads must use an index and no index
 * is rebuilt, so both should start alike: the figure is the time the data adds (target 0.6 s),
 * the whole spawn-to-ready time (mostly Node and module loading) is information beside it.
 */
export default function startWithData (): Scenario {
  let dataUri = ''
  let emptyUri = ''

  return {
    name: 'start-with-data',
    title: 'start with data',
    description: 'Seconds a start (spawning node dist/src/server.js to the first 200 of /health/ready) on a database with 1,000,000 login events and 100,000 sessions (a hundredth with --quick) takes beyond a start on an empty database (database already up); the whole times beside it.',

    async setup (ctx: BenchContext) {
      const suffix = randomBytes(4).toString('hex')
      dataUri = withDatabase(ctx.dbUri, `warden_bench_data_${suffix}`)
      emptyUri = withDatabase(ctx.dbUri, `warden_bench_empty_${suffix}`)
      const scale = ctx.options.quick ? 100 : 1
      // First starts on empty databases build the indexes and the signing key, as a deployment's
      // first start does; they are not measured. The data then arrives under those indexes.
      for (const uri of [dataUri, emptyUri]) {
        const warden = await ctx.startWarden('warden-start-data-setup', { MONGODB_URI: uri })
        await warden.child.stop()
      }
      await seed(dataUri, EVENTS / scale, SESSIONS / scale, (msg) => process.stderr.write(msg + '\n'))
    },

    async runRound (ctx: BenchContext, roundNo: number): Promise<RoundResult> {
      const withData: number[] = []
      const empty: number[] = []
      for (let i = 0; i < ctx.options.starts; i++) {
        for (const which of (roundNo + i) % 2 === 0 ? ['data', 'empty'] : ['empty', 'data']) {
          const w = await ctx.startWarden(`warden-start-${which}-${roundNo}-${i}`, { MONGODB_URI: which === 'data' ? dataUri : emptyUri })
          ;(which === 'data' ? withData : empty).push(w.startMs)
          await w.child.stop()
        }
      }
      return {
        loads: {},
        values: {
          ...Object.fromEntries(withData.map((v, i) => [`dataMs${i}`, v])),
          ...Object.fromEntries(empty.map((v, i) => [`emptyMs${i}`, v]))
        }
      }
    },

    summarise (ctx: BenchContext, rounds: RoundResult[]): Row[] {
      const pick = (prefix: string): number[] => rounds.flatMap((r) => Object.entries(r.values).filter(([k]) => k.startsWith(prefix)).map(([, v]) => v / 1000))
      const data = pick('dataMs')
      const empty = pick('emptyMs')
      const extra = data.map((v, i) => v - (empty[i] ?? NaN))
      // Judged on what the data adds: the rest (Node's start, module loading, the connection) is
      // the same on an empty database, and is reported beside it.
      return [{
        scenario: 'start-with-data',
        label: `start → ready, extra over an empty database, ${ctx.options.quick ? '10k events, 1k' : '1M events, 100k'} sessions`,
        unit: 's',
        figureDescription: 'seconds a start on the seeded database takes beyond the start next to it on an empty database (spawn to the first 200 of /health/ready, database already up), median of every pair',
        ...verdict(extra, { op: '<=', value: 0.6 }),
        detail: {
          data_database_start_s: round(median(data), 3),
          starts_s: data.map((v) => round(v, 3)),
          empty_database_start_s: round(median(empty), 3),
          empty_starts_s: empty.map((v) => round(v, 3)),
          extra_s_over_empty: round(median(extra), 3),
          ratio_to_empty: round(median(pairwise(data, empty)), 3)
        }
      }]
    },

    async teardown () {
      for (const uri of [dataUri, emptyUri]) {
        if (uri === '') continue
        const client = new mongo.MongoClient(uri)
        try {
          await client.connect()
          await client.db().dropDatabase()
        } finally {
          await client.close()
        }
      }
    }
  }
}
