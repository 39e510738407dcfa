import { loadColumns, loadDetail, loadsOf, pairwise, verdict } from './figures'
import { measureLoad } from './load'
import type { BenchContext, RoundResult, Row, Scenario, Server } from './scenario'
import { accountWithToken, expectStatus } from './warden'

export interface ProtectedRoute {
  name: string
  title: string
  description: string
  path: string
  status: number
  /** Warden req/s ÷ reference req/s of the same round must reach this. */
  minRatio: number
}

/**
 * A Warden route behind the authentication hook, loaded with one valid bearer token.
 * Figure: its req/s ÷ the bare-Fastify reference req/s, per round, median.
 */
export function protectedRouteScenario (route: ProtectedRoute): Scenario {
  let server: Server | undefined
  let token = ''
  const headers = () => ({ authorization: `Bearer ${token}` })

  return {
    name: route.name,
    title: route.title,
    description: route.description,
    needs: ['reference'],

    async setup (ctx: BenchContext) {
      server = await ctx.startWarden(`warden-${route.name}`)
      token = (await accountWithToken(server.url, route.name)).token
      await expectStatus(`${server.url}${route.path}`, route.status, headers())
    },

    async runRound (ctx: BenchContext, round: number): Promise<RoundResult> {
      const s = server as Server
      const figures = await measureLoad({
        url: s.url,
        path: route.path,
        headers: headers(),
        connections: ctx.options.connections,
        warmup: ctx.options.warmup,
        duration: ctx.options.duration,
        pid: s.child.pid,
        dbPid: ctx.dbPid,
        profile: ctx.profile(s, route.name, round),
        expectStatus: route.status
      })
      return { loads: { [route.name]: figures }, values: {} }
    },

    summarise (ctx: BenchContext, rounds: RoundResult[], others): Row[] {
      const loads = loadsOf(rounds, route.name)
      const ref = loadsOf(others.get('reference') ?? [], 'reference')
      return [{
        scenario: route.name,
        label: `GET ${route.path} ÷ reference`,
        ...loadColumns(loads),
        unit: 'x',
        figureDescription: `${route.path} req/s ÷ reference req/s, per round, median`,
        ...verdict(pairwise(loads.map((l) => l.rps), ref.map((l) => l.rps)), { op: '>=', value: route.minRatio }),
        detail: loadDetail(loads)
      }]
    },

    async teardown () {
      await server?.child.stop()
    }
  }
}
