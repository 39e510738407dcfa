import Fastify from 'fastify'
import { Types } from 'mongoose'
import { loadConfig } from '../../src/config'
import configPlugin from '../../plugins/config'
import db from '../../plugins/db'
import stateChangesStore, { type StateChange } from '../../plugins/stores/state-changes'
import { PERMANENT } from '../../plugins/account-state'
import { loadColumns, loadDetail, loadsOf, pairwise, round, verdict } from '../lib/figures'
import { measureLoad } from '../lib/load'
import { request } from '../lib/processes'
import type { BenchContext, RoundResult, Row, Scenario, Server } from '../lib/scenario'
import { median } from '../lib/stats'
import { accountWithToken, expectStatus, login, newAccount, register } from '../lib/warden'

export const REVOKED_SESSIONS = 100_000
export const LOCKED_USERS = 10_000
const SEED_BATCH = 10_000
const NAME = 'verify-revocations'
/** How far below the plain verify ratio this one may be. */
const ALLOWED_DROP = 0.05

/** The bench database's URI with another database name: the seeded state must not reach the other scenarios' servers. */
function ownDatabase (uri: string): string {
  const url = new URL(uri)
  url.pathname = '/warden-bench-revocations'
  return url.toString()
}

/** Journals the changes through the state-changes store (its bulk `seed`), batch by batch. */
async function seed (ctx: BenchContext, uri: string, changes: Iterable<StateChange>): Promise<number> {
  const app = Fastify({ logger: false })
  await app.register(configPlugin, { config: loadConfig({ ...ctx.wardenBaseEnv, MONGODB_URI: uri, LOG_LEVEL: 'silent' }) })
  await app.register(db, { uri })
  await app.register(stateChangesStore)
  await app.ready()
  let written = 0
  try {
    let batch: StateChange[] = []
    for (const change of changes) {
      batch.push(change)
      if (batch.length === SEED_BATCH) {
        written += await app.stateChanges.seed(batch)
        batch = []
      }
    }
    written += await app.stateChanges.seed(batch)
  } finally {
    await app.close()
  }
  return written
}

const sidOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sid as string
const subOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sub as string

/**
 * The forward-auth hot path with a large account state in memory: GET /auth/verify on a
 * Warden whose journal holds 100,000 revoked sessions and 10,000 locked users (seeded
 * through the state-changes store into a database of its own, loaded at start). Figures:
 * its req/s ÷ reference req/s, the difference from the plain verify scenario's ratio of the
 * same round (target: no more than 0.05 below), and the RSS it adds over the plain verify
 * server under the same load. The server is started for each round and stopped after it:
 * its start time (loading the journal) is reported, and it is not running while the other
 * scenarios are measured.
 */
export default function verifyRevocations (): Scenario {
  let uri = ''
  let token = ''
  const env = (): Record<string, string> => ({ MONGODB_URI: uri })

  async function start (ctx: BenchContext, name: string): Promise<Server> {
    return await ctx.startWarden(name, env())
  }

  return {
    name: NAME,
    title: 'verify with 100,000 revoked sessions and 10,000 locked users',
    description: `GET /auth/verify with a valid RS256 token on a Warden holding ${REVOKED_SESSIONS.toLocaleString('en')} revoked sessions and ${LOCKED_USERS.toLocaleString('en')} locked users in memory. Figures: req/s ÷ reference req/s; that ratio minus the plain verify ratio of the same round (target: no more than 0.05 below); RSS under load minus the plain verify server's.`,
    needs: ['reference', 'verify'],

    async setup (ctx: BenchContext) {
      uri = ownDatabase(ctx.dbUri)
      // Accounts first (on an empty journal): one that stays valid, one whose session and one
      // whose account are then among the seeded entries, to check that the state is loaded.
      const first = await start(ctx, `warden-${NAME}-setup`)
      let revokedToken: string
      let lockedToken: string
      try {
        token = (await accountWithToken(first.url, 'revocations')).token
        revokedToken = (await accountWithToken(first.url, 'revoked')).token
        const locked = newAccount('locked')
        await register(first.url, locked)
        lockedToken = (await login(first.url, locked)).access_token
      } finally {
        await first.child.stop()
      }

      const now = Date.now()
      const at = now - 10 * 60_000
      const until = now + 24 * 3600_000
      const started = Date.now()
      const written = await seed(ctx, uri, (function * () {
        yield { kind: 'session_revoked', sessionId: sidOf(revokedToken), at, until }
        for (let i = 1; i < REVOKED_SESSIONS; i++) yield { kind: 'session_revoked', sessionId: new Types.ObjectId().toHexString(), at, until }
        yield { kind: 'lock', userId: subOf(lockedToken), at, until: PERMANENT }
        for (let i = 1; i < LOCKED_USERS; i++) yield { kind: 'lock', userId: new Types.ObjectId().toHexString(), at, until: PERMANENT }
      })())
      ctx.log(`${NAME}: seeded ${written} journal entries in ${((Date.now() - started) / 1000).toFixed(1)} s`)

      const server = await start(ctx, `warden-${NAME}-check`)
      try {
        ctx.log(`${NAME}: a Warden loading them answered /health/ready ${(server.startMs / 1000).toFixed(1)} s after spawn`)
        await expectStatus(`${server.url}/auth/verify`, 204, { authorization: `Bearer ${token}` })
        await expectStatus(`${server.url}/auth/verify`, 401, { authorization: `Bearer ${revokedToken}` })
        await expectStatus(`${server.url}/auth/verify`, 403, { authorization: `Bearer ${lockedToken}` })
        const health = await request(`${server.url}/health/ready`)
        if (health.status !== 200) throw new Error(`${NAME}: not ready`)
      } finally {
        await server.child.stop()
      }
    },

    async runRound (ctx: BenchContext, roundNo: number): Promise<RoundResult> {
      const server = await start(ctx, `warden-${NAME}-${roundNo}`)
      try {
        const figures = await measureLoad({
          url: server.url,
          path: '/auth/verify',
          headers: { authorization: `Bearer ${token}` },
          connections: ctx.options.connections,
          warmup: ctx.options.warmup,
          duration: ctx.options.duration,
          pid: server.child.pid,
          dbPid: ctx.dbPid,
          profile: ctx.profile(server, NAME, roundNo),
          expectStatus: 204
        })
        return { loads: { [NAME]: figures }, values: { startMs: server.startMs } }
      } finally {
        await server.child.stop()
      }
    },

    summarise (ctx: BenchContext, rounds: RoundResult[], others): Row[] {
      const loads = loadsOf(rounds, NAME)
      const ref = loadsOf(others.get('reference') ?? [], 'reference')
      const plain = loadsOf(others.get('verify') ?? [], 'verify')
      const ratios = pairwise(loads.map((l) => l.rps), ref.map((l) => l.rps))
      const plainRatios = pairwise(plain.map((l) => l.rps), ref.map((l) => l.rps))
      const n = Math.min(ratios.length, plainRatios.length)
      const differences = ratios.slice(0, n).map((r, i) => r - plainRatios[i])
      const rssAdded: number[] = []
      for (let i = 0; i < Math.min(loads.length, plain.length); i++) {
        const a = loads[i].rssMaxMB
        const b = plain[i].rssMaxMB
        if (a !== null && b !== null) rssAdded.push(a - b)
      }
      const starts = rounds.map((r) => r.values.startMs)
      const detail = {
        ...loadDetail(loads),
        revoked_sessions: REVOKED_SESSIONS,
        locked_users: LOCKED_USERS,
        start_s_rounds: starts.map((ms) => round(ms / 1000, 2)),
        plain_verify_ratio: round(median(plainRatios), 4),
        difference_from_plain_verify: round(median(differences), 4),
        difference_rounds: differences.map((d) => round(d, 4))
      }
      return [{
        scenario: NAME,
        label: 'GET /auth/verify, 110k entries ÷ reference',
        ...loadColumns(loads),
        unit: 'x',
        figureDescription: '/auth/verify req/s with 100,000 revoked sessions and 10,000 locked users in memory ÷ reference req/s, per round, median; target: the plain verify ratio (median) minus 0.05',
        ...verdict(ratios, { op: '>=', value: round(median(plainRatios) - ALLOWED_DROP, 4) }),
        detail
      }, {
        scenario: NAME,
        label: 'RSS added over plain verify',
        unit: 'MB',
        figureDescription: 'largest RSS under the verify load minus the plain verify server\'s, same round, median',
        ...verdict(rssAdded),
        detail: { start_s_median: round(median(starts) / 1000, 2) }
      }]
    },

    async teardown () { /* every server of this scenario is stopped after its round */ }
  }
}
