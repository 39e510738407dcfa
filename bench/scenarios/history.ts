import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { mongo } from 'mongoose'
import { buildApp } from '../../src/app'
import { loadConfig } from '../../src/config'
import type { QueryPlan, StoredLoginEvent } from '../../plugins/login-events'
import { round, verdict } from '../lib/figures'
import { request } from '../lib/processes'
import type { BenchContext, RoundResult, Row, Scenario, Server } from '../lib/scenario'
import { median, percentile } from '../lib/stats'
import { login, newAccount, register } from '../lib/warden'

const CHUNK = 10_000
const REQUEST_TIMEOUT_MS = 60_000

/**
 * The login history at scale: the latest page of 50 of one user's events among 1,000,000
 * (100,000 with --quick), seeded in bulk through the store (`importMany`), read through
 * GET /users/me/login-history one request after another. Figures: p50 and p99 latency, and
 * the query plan (index used, keys and documents examined, in-memory sort or not).
 */
export default function history (): Scenario {
  let server: Server | undefined
  let dbUri = ''
  let token = ''
  let plan: QueryPlan | undefined
  let seedSeconds = 0
  let total = 0
  let userEvents = 0
  let database = ''
  let timedOut = false

  return {
    name: 'history',
    title: 'history: latest 50 of one user among 1M events',
    description: 'GET /users/me/login-history?limit=50 for a user with 1,000 events among 1,000,000 (100,000 with --quick) seeded with insertMany through the store; sequential requests. Figures: p50/p99 latency, query plan.',

    async setup (ctx: BenchContext) {
      // A database of its own on the run's server: the other scenarios' collections stay small.
      dbUri = ctx.dbUri.replace(/\/([^/?]+)(\?|$)/, '/$1-history$2')
      server = await ctx.startWarden('warden-history', { MONGODB_URI: dbUri })
      const account = newAccount('history')
      await register(server.url, account)
      const answer = await login(server.url, account)
      token = answer.access_token
      const userId = String(JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')).sub)

      const config = loadConfig({ ...ctx.wardenBaseEnv, LOG_LEVEL: 'warn' })
      const app: FastifyInstance = await buildApp({ config, mongodbUri: dbUri })
      try {
        // FerretDB 1.x scans the whole collection for every page (no filter or sort pushdown,
        // see the README): there a tenth of the events keeps the run bounded, and the row says so.
        database = (await app.loginEvents.explainPage({ userId }, { limit: 50 })).server
        total = (ctx.options.quick ? 100_000 : 1_000_000) / (database === 'ferretdb' ? 10 : 1)
        userEvents = Math.min(1000, total / 100)
        const started = performance.now()
        const now = Date.now()
        // spread over 60 days (inside the 90-day retention); the user's events among the others
        const every = Math.floor(total / userEvents)
        for (let done = 0; done < total; done += CHUNK) {
          const chunk: StoredLoginEvent[] = []
          for (let i = done; i < Math.min(done + CHUNK, total); i++) {
            const mine = i % every === 0
            chunk.push({
              type: 'login',
              outcome: i % 7 === 0 ? 'failure' : 'success',
              reason: i % 7 === 0 ? 'bad_password' : null,
              userId: mine ? userId : new mongo.ObjectId().toHexString(),
              username: mine ? account.username : `user-${i % 50_000}`,
              ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
              userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
              at: new Date(now - 60 * 86_400_000 + Math.floor(i * (60 * 86_400_000 / total))),
              requestId: randomUUID()
            })
          }
          await app.loginEvents.importMany(chunk)
          if ((done / CHUNK) % 10 === 9) ctx.log(`history: ${(done + CHUNK).toLocaleString('en')} of ${total.toLocaleString('en')} events seeded`)
        }
        seedSeconds = (performance.now() - started) / 1000
        ctx.log(`history: ${total.toLocaleString('en')} events seeded in ${seedSeconds.toFixed(1)} s`)
        plan = await app.loginEvents.explainPage({ userId }, { limit: 50 })
      } finally {
        await app.close()
      }
    },

    async runRound (ctx: BenchContext): Promise<RoundResult> {
      const s = server as Server
      const latencies: number[] = []
      const until = performance.now() + ctx.options.duration * 1000
      // at least three requests, at most 500, for about the measured duration
      while (latencies.length < 500 && (latencies.length < 3 || performance.now() < until)) {
        const started = performance.now()
        let res
        try {
          res = await request(`${s.url}/users/me/login-history?limit=50`, { headers: { authorization: `Bearer ${token}` }, timeoutMs: REQUEST_TIMEOUT_MS })
        } catch (err) {
          // a page slower than the timeout counts as the timeout, and ends the round
          ctx.log(`history: ${(err as Error).message}`)
          latencies.push(REQUEST_TIMEOUT_MS)
          timedOut = true
          break
        }
        latencies.push(performance.now() - started)
        if (res.status !== 200) throw new Error(`GET /users/me/login-history answered ${res.status}: ${res.body.slice(0, 200)}`)
        if ((JSON.parse(res.body) as { items: unknown[] }).items.length !== 50) throw new Error('the history page is not full: the seed did not reach the user')
      }
      const sorted = [...latencies].sort((a, b) => a - b)
      return { loads: {}, values: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), samples: latencies.length } }
    },

    summarise (ctx: BenchContext, rounds: RoundResult[]): Row[] {
      const p50 = median(rounds.map((r) => r.values.p50))
      const p99s = rounds.map((r) => r.values.p99)
      return [{
        scenario: 'history',
        label: `latest 50 of ${userEvents.toLocaleString('en')} among ${total.toLocaleString('en')} events${database === 'ferretdb' ? ' (FerretDB: a tenth)' : ''}: p99`,
        p50,
        p99: median(p99s),
        unit: 'ms',
        figureDescription: 'p99 latency of GET /users/me/login-history?limit=50, sequential requests, median over rounds',
        ...verdict(p99s, { op: '<=', value: 10 }),
        detail: {
          events: total,
          user_events: userEvents,
          seed_seconds: round(seedSeconds, 1),
          seed_events_per_second: round(total / seedSeconds, 0),
          samples_rounds: rounds.map((r) => r.values.samples),
          p50_ms_rounds: rounds.map((r) => round(r.values.p50, 3)),
          database: plan?.server ?? 'unknown',
          timed_out: timedOut,
          plan_indexes: plan?.indexes.join(',') ?? '',
          plan_in_memory_sort: plan?.inMemorySort ?? null,
          plan_keys_examined: plan?.keysExamined ?? null,
          plan_docs_examined: plan?.docsExamined ?? null,
          plan_returned: plan?.returned ?? null
        }
      }]
    },

    async teardown () {
      await server?.child.stop()
      if (dbUri !== '') {
        const client = new mongo.MongoClient(dbUri, { serverSelectionTimeoutMS: 10_000 })
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
