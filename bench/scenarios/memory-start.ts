import path from 'node:path'
import { loadColumns, loadDetail, loadsOf, pairwise, round, verdict } from '../lib/figures'
import { measureLoad } from '../lib/load'
import { delay, rssBytes } from '../lib/processes'
import type { BenchContext, RoundResult, Row, Scenario, Server } from '../lib/scenario'
import { median, sum } from '../lib/stats'
import { accountWithToken, loginRequests, newAccount, register, type Account } from '../lib/warden'

/**
 * Memory and start-up of a fresh Warden process, with the database already up:
 * RSS at rest (after start, before any request), RSS under the verify load, and the time
 * from spawning `node dist/src/server.js` to the first 200 from /health/ready (polled
 * every 10 ms). The reference server is started the same way for comparison.
 *
 * A process that has served logins keeps more memory (each Argon2id verify uses
 * ARGON2_MEMORY_KIB in a thread-pool thread, and the allocator keeps it), so the same child is
 * then given a short burst of logins and the verify load again: that RSS is reported beside
 * the fresh one.
 */
export default function memoryStart (): Scenario {
  let token = ''
  let accounts: Account[] = []

  async function restRss (ctx: BenchContext, server: Server): Promise<number> {
    await delay(ctx.options.quick ? 500 : 1000)
    return (rssBytes(server.child.pid) ?? NaN) / 1e6
  }

  return {
    name: 'memory-start',
    title: 'memory and start',
    description: 'A fresh Warden child: RSS at rest, RSS under the verify load, and milliseconds from spawn to the first 200 of /health/ready (database already up), next to the reference server started the same way.',

    async setup (ctx: BenchContext) {
      // The token comes from another Warden child so that the measured one has served nothing before the load.
      const warden = await ctx.startWarden('warden-memory-setup')
      try {
        token = (await accountWithToken(warden.url, 'memory')).token
        accounts = Array.from({ length: 2 * ctx.cores }, () => newAccount('memory'))
        for (const a of accounts) await register(warden.url, a)
      } finally {
        await warden.child.stop()
      }
    },

    async runRound (ctx: BenchContext, roundNo: number): Promise<RoundResult> {
      const starts: number[] = []
      const refStarts: number[] = []

      // Reference first (A), then Warden (B).
      const ref = await ctx.startScript(`reference-start-${roundNo}`, path.join(ctx.distBench, 'servers', 'reference.js'), '/')
      refStarts.push(ref.startMs)
      const refRest = await restRss(ctx, ref)
      await ref.child.stop()

      const warden = await ctx.startWarden(`warden-memory-${roundNo}`)
      starts.push(warden.startMs)
      const rest = await restRss(ctx, warden)
      const verifyLoad = (warmup: number, label: string): ReturnType<typeof measureLoad> => measureLoad({
        url: warden.url,
        path: '/auth/verify',
        headers: { authorization: `Bearer ${token}` },
        connections: ctx.options.connections,
        warmup,
        duration: ctx.options.duration,
        pid: warden.child.pid,
        dbPid: ctx.dbPid,
        profile: ctx.profile(warden, label, roundNo),
        expectStatus: 204
      })
      let load
      let afterLogins
      let logins
      try {
        load = await verifyLoad(ctx.options.warmup, 'memory-verify')
        logins = await measureLoad({
          url: warden.url,
          path: '/auth/login',
          requests: loginRequests(accounts),
          connections: 2 * ctx.cores,
          warmup: 0,
          duration: ctx.options.quick ? 1 : 2,
          pid: warden.child.pid,
          dbPid: ctx.dbPid,
          expectStatus: 200
        })
        afterLogins = await verifyLoad(1, 'memory-verify-after-logins')
      } finally {
        await warden.child.stop()
      }

      for (let i = 1; i < ctx.options.starts; i++) {
        // alternately Warden first and reference first
        for (const which of i % 2 === 1 ? ['warden', 'reference'] : ['reference', 'warden']) {
          if (which === 'reference') {
            const r = await ctx.startScript(`reference-start-${roundNo}-${i}`, path.join(ctx.distBench, 'servers', 'reference.js'), '/')
            refStarts.push(r.startMs)
            await r.child.stop()
          } else {
            const w = await ctx.startWarden(`warden-start-${roundNo}-${i}`)
            starts.push(w.startMs)
            await w.child.stop()
          }
        }
      }

      return {
        loads: { verify: load, logins, afterLogins },
        values: {
          restRssMB: rest,
          refRestRssMB: refRest,
          startMs: median(starts),
          refStartMs: median(refStarts),
          ...Object.fromEntries(starts.map((v, i) => [`startMs${i}`, v])),
          ...Object.fromEntries(refStarts.map((v, i) => [`refStartMs${i}`, v]))
        }
      }
    },

    summarise (ctx: BenchContext, rounds: RoundResult[]): Row[] {
      const loads = loadsOf(rounds, 'verify')
      const afterLogins = loadsOf(rounds, 'afterLogins')
      const loginBursts = loadsOf(rounds, 'logins')
      const starts = rounds.flatMap((r) => Object.entries(r.values).filter(([k]) => /^startMs\d+$/.test(k)).map(([, v]) => v / 1000))
      const refStarts = rounds.flatMap((r) => Object.entries(r.values).filter(([k]) => /^refStartMs\d+$/.test(k)).map(([, v]) => v / 1000))
      const rest = rounds.map((r) => r.values.restRssMB)
      const refRest = rounds.map((r) => r.values.refRestRssMB)
      const cols = loadColumns(loads)
      return [
        {
          scenario: 'memory-start',
          label: 'RSS at rest (fresh Warden)',
          rssMB: median(rest),
          unit: 'MB',
          figureDescription: 'VmRSS 1 s after /health/ready first answered 200, before any other request (MB = 10^6 bytes), median',
          ...verdict(rest),
          detail: {
            reference_rest_rss_mb: round(median(refRest), 1),
            ratio_to_reference: round(median(pairwise(rest, refRest)), 3)
          }
        },
        {
          scenario: 'memory-start',
          label: 'RSS under verify load',
          ...cols,
          unit: 'MB',
          figureDescription: 'largest VmRSS sampled every 200 ms during the verify load on the fresh child, largest over rounds',
          ...verdict([cols.rssMB ?? NaN], { op: '<=', value: 150 }),
          detail: loadDetail(loads)
        },
        {
          scenario: 'memory-start',
          label: 'RSS under verify load after logins',
          ...loadColumns(afterLogins),
          // a failed login burst would make this row meaningless: its errors count here too
          non2xx: sum([...afterLogins, ...loginBursts].map((l) => l.unexpected)),
          unit: 'MB',
          figureDescription: `largest VmRSS during the verify load on the same child after ${ctx.options.quick ? 1 : 2} s of logins at concurrency ${2 * ctx.cores} (no target: what a process that has served logins keeps)`,
          ...verdict([loadColumns(afterLogins).rssMB ?? NaN]),
          detail: loadDetail(afterLogins)
        },
        {
          scenario: 'memory-start',
          label: 'start → first 200 /health/ready',
          unit: 's',
          figureDescription: 'seconds from spawning node dist/src/server.js to the first 200 of /health/ready, median of every start',
          ...verdict(starts, { op: '<=', value: 1.5 }),
          detail: {
            starts_s: starts.map((v) => round(v, 3)),
            reference_start_s: round(median(refStarts), 3),
            reference_starts_s: refStarts.map((v) => round(v, 3)),
            ratio_to_reference: round(median(starts) / median(refStarts), 3)
          }
        }
      ]
    },

    async teardown () {}
  }
}
