import { loadColumns, loadDetail, loadsOf, pairwise, verdict } from '../lib/figures'
import { measureLoad } from '../lib/load'
import type { BenchContext, RoundResult, Row, Scenario, Server } from '../lib/scenario'
import { accountWithToken, expectStatus } from '../lib/warden'

/**
 * A protected route: GET /users/me with a valid bearer token; the profile comes from
 * Warden's in-memory cache (re-read from the database when the entry is older than its TTL).
 * Ratio: Warden req/s ÷ reference req/s.
 */
export default function usersMe (): Scenario {
  let server: Server | undefined
  let token = ''

  return {
    name: 'users-me',
    title: 'protected route: GET /users/me',
    description: 'GET /users/me with a valid access token: authentication hook, profile from the in-memory cache, JSON response through its schema. Figure: req/s ÷ reference req/s of the same round.',
    needs: ['reference'],

    async setup (ctx: BenchContext) {
      server = await ctx.startWarden('warden-users-me')
      token = (await accountWithToken(server.url, 'me')).token
      await expectStatus(`${server.url}/users/me`, 200, { authorization: `Bearer ${token}` })
    },

    async runRound (ctx: BenchContext, round: number): Promise<RoundResult> {
      const s = server as Server
      const figures = await measureLoad({
        url: s.url,
        path: '/users/me',
        headers: { authorization: `Bearer ${token}` },
        connections: ctx.options.connections,
        warmup: ctx.options.warmup,
        duration: ctx.options.duration,
        pid: s.child.pid,
        dbPid: ctx.dbPid,
        profile: ctx.profile(s, 'users-me', round),
        expectStatus: 200
      })
      return { loads: { me: figures }, values: {} }
    },

    summarise (ctx: BenchContext, rounds: RoundResult[], others): Row[] {
      const loads = loadsOf(rounds, 'me')
      const ref = loadsOf(others.get('reference') ?? [], 'reference')
      return [{
        scenario: 'users-me',
        label: 'GET /users/me ÷ reference',
        ...loadColumns(loads),
        unit: 'x',
        figureDescription: 'users/me req/s ÷ reference req/s, per round, median',
        ...verdict(pairwise(loads.map((l) => l.rps), ref.map((l) => l.rps)), { op: '>=', value: 0.80 }),
        detail: loadDetail(loads)
      }]
    },

    async teardown () {
      await server?.child.stop()
    }
  }
}
