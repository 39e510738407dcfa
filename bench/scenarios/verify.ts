import { loadColumns, loadDetail, loadsOf, pairwise, verdict } from '../lib/figures'
import { measureLoad } from '../lib/load'
import type { BenchContext, RoundResult, Row, Scenario, Server } from '../lib/scenario'
import { accountWithToken, expectStatus } from '../lib/warden'

export const VERIFY_TARGET = { op: '>=', value: 0.90 } as const

/**
 * The forward-auth hot path: GET /auth/verify with a valid bearer token, answered from
 * memory (token cache and account state). Ratio: Warden req/s ÷ reference req/s.
 */
export default function verify (): Scenario {
  let server: Server | undefined
  let token = ''

  return {
    name: 'verify',
    title: 'verify: GET /auth/verify',
    description: 'GET /auth/verify with a valid RS256 access token (204 + X-Auth-* headers), the forward-auth hot path. Figure: req/s ÷ reference req/s of the same round.',
    needs: ['reference'],

    async setup (ctx: BenchContext) {
      server = await ctx.startWarden('warden-verify')
      token = (await accountWithToken(server.url, 'verify')).token
      await expectStatus(`${server.url}/auth/verify`, 204, { authorization: `Bearer ${token}` })
    },

    async runRound (ctx: BenchContext, round: number): Promise<RoundResult> {
      const s = server as Server
      const figures = await measureLoad({
        url: s.url,
        path: '/auth/verify',
        headers: { authorization: `Bearer ${token}` },
        connections: ctx.options.connections,
        warmup: ctx.options.warmup,
        duration: ctx.options.duration,
        pid: s.child.pid,
        dbPid: ctx.dbPid,
        profile: ctx.profile(s, 'verify', round),
        expectStatus: 204
      })
      return { loads: { verify: figures }, values: {} }
    },

    summarise (ctx: BenchContext, rounds: RoundResult[], others): Row[] {
      const loads = loadsOf(rounds, 'verify')
      const ref = loadsOf(others.get('reference') ?? [], 'reference')
      return [{
        scenario: 'verify',
        label: 'GET /auth/verify ÷ reference',
        ...loadColumns(loads),
        unit: 'x',
        figureDescription: 'verify req/s ÷ reference req/s, per round, median',
        ...verdict(pairwise(loads.map((l) => l.rps), ref.map((l) => l.rps)), VERIFY_TARGET),
        detail: loadDetail(loads)
      }]
    },

    async teardown () {
      await server?.child.stop()
    }
  }
}
