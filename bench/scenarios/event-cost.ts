import path from 'node:path'
import { loadColumns, loadDetail, loadsOf, pairwise, verdict } from '../lib/figures'
import { measureLoad, type LoadFigures } from '../lib/load'
import type { BenchContext, RoundResult, Row, Scenario, Server } from '../lib/scenario'
import { loginRequests, newAccount, register, type Account } from '../lib/warden'

/**
 * What recording login events costs a login: POST /auth/login at concurrency 2×cores on Warden
 * as built, and on the same Warden with recording switched off (bench/servers/warden-no-events),
 * measured one after the other in each round (A B, B A). Figure: logins/s with ÷ without.
 */
export default function eventCost (): Scenario {
  let withEvents: Server | undefined
  let without: Server | undefined
  const accounts = new Map<Server, Account[]>()

  async function prepare (ctx: BenchContext, server: Server): Promise<void> {
    const list = Array.from({ length: Math.max(4, 2 * ctx.cores) }, () => newAccount('cost'))
    for (const a of list) await register(server.url, a)
    accounts.set(server, list)
  }

  function measure (ctx: BenchContext, server: Server, label: string, roundNo: number): Promise<LoadFigures> {
    return measureLoad({
      url: server.url,
      path: '/auth/login',
      requests: loginRequests(accounts.get(server) ?? []),
      connections: 2 * ctx.cores,
      warmup: ctx.options.quick ? 1 : 2,
      duration: ctx.options.loginDuration,
      pid: server.child.pid,
      dbPid: ctx.dbPid,
      profile: ctx.profile(server, `event-cost-${label}`, roundNo),
      expectStatus: 200
    })
  }

  return {
    name: 'event-cost',
    title: 'event cost: logins with login events ÷ without',
    description: 'POST /auth/login at concurrency 2×cores on Warden as built and on the same Warden with login-event recording switched off (a bench-only server), in the same round. Figure: logins/s with events ÷ logins/s without.',

    async setup (ctx: BenchContext) {
      withEvents = await ctx.startWarden('warden-events-on')
      without = await ctx.startScript('warden-events-off', path.join(ctx.distBench, 'servers', 'warden-no-events.js'), '/health/ready')
      await prepare(ctx, withEvents)
      await prepare(ctx, without)
    },

    async runRound (ctx: BenchContext, roundNo: number): Promise<RoundResult> {
      const on = withEvents as Server
      const off = without as Server
      if (roundNo % 2 === 1) {
        const a = await measure(ctx, on, 'on', roundNo)
        const b = await measure(ctx, off, 'off', roundNo)
        return { loads: { on: a, off: b }, values: {} }
      }
      const b = await measure(ctx, off, 'off', roundNo)
      const a = await measure(ctx, on, 'on', roundNo)
      return { loads: { on: a, off: b }, values: {} }
    },

    summarise (ctx: BenchContext, rounds: RoundResult[]): Row[] {
      const on = loadsOf(rounds, 'on')
      const off = loadsOf(rounds, 'off')
      const c = 2 * ctx.cores
      return [
        { scenario: 'event-cost', label: `login c=${c}, events off (bench-only switch)`, ...loadColumns(off), detail: loadDetail(off) },
        {
          scenario: 'event-cost',
          label: `login c=${c}: with events ÷ without`,
          ...loadColumns(on),
          unit: 'x',
          figureDescription: `logins/s at concurrency ${c} with login events recorded ÷ with recording switched off, per round, median`,
          ...verdict(pairwise(on.map((l) => l.rps), off.map((l) => l.rps)), { op: '>=', value: 0.95 }),
          detail: { ...loadDetail(on), p50_ratio_rounds: pairwise(on.map((l) => l.p50), off.map((l) => l.p50)) }
        }
      ]
    },

    async teardown () {
      await withEvents?.child.stop()
      await without?.child.stop()
    }
  }
}
