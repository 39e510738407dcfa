import path from 'node:path'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { loadColumns, loadDetail, loadsOf, pairwise, round, verdict } from '../lib/figures'
import { measureLoad } from '../lib/load'
import type { BenchContext, RoundResult, Row, Scenario, Server } from '../lib/scenario'
import { accountWithToken, expectStatus, login } from '../lib/warden'

const run = promisify(execFile)
/** Logout-all → first 401 on the relying service, measured this many times per round. */
const PROPAGATION_SAMPLES = 20

/**
 * A relying Fastify service using warden/verifier (JWKS and revocation feed) ÷ the same
 * service's open route, and how long after Warden answers a logout-all the relying service
 * first refuses the logged-out token.
 */
export default function relying (): Scenario {
  let warden: Server | undefined
  let server: Server | undefined
  let account: Awaited<ReturnType<typeof accountWithToken>> | undefined
  /** logged out again and again to time the propagation; `account` keeps its token for the load */
  let leaving: Awaited<ReturnType<typeof accountWithToken>> | undefined

  async function propagationMs (s: Server, w: Server): Promise<number> {
    const { access_token: token } = await login(w.url, leaving as NonNullable<typeof leaving>)
    const headers = { authorization: `Bearer ${token}` }
    await expectStatus(`${s.url}/protected`, 200, headers)
    const res = await fetch(`${w.url}/auth/logout-all`, { method: 'POST', headers })
    if (res.status !== 204) throw new Error(`logout-all answered ${res.status}`)
    const start = performance.now()
    for (;;) {
      const answer = await fetch(`${s.url}/protected`, { headers })
      await answer.arrayBuffer()
      if (answer.status === 401) return performance.now() - start
      if (performance.now() - start > 10_000) throw new Error('the relying service did not refuse the token within 10 s')
    }
  }

  return {
    name: 'relying',
    title: 'relying: a service using warden/verifier',
    description: 'A relying Fastify service: GET /protected behind warden/verifier (JWKS and revocation feed) ÷ GET /open on the same server, per round; ' +
      'and the time from Warden\'s answer to POST /auth/logout-all to the relying service\'s first 401 for that token.',

    async setup (ctx: BenchContext) {
      warden = await ctx.startWarden('warden-relying')
      const { stdout } = await run(process.execPath, [path.join(ctx.root, 'dist', 'src', 'cli.js'), 'client', 'create', `bench relying ${Date.now()}`, '--json'], {
        env: { ...process.env, ...ctx.wardenBaseEnv }
      })
      const client = JSON.parse(stdout) as { client_id: string, client_secret: string }
      server = await ctx.startScript('relying', path.join(ctx.distBench, 'servers', 'relying.js'), '/health', {
        WARDEN_URL: warden.url,
        WARDEN_CLIENT_ID: client.client_id,
        WARDEN_CLIENT_SECRET: client.client_secret
      })
      account = await accountWithToken(warden.url, 'relying')
      leaving = await accountWithToken(warden.url, 'relying-logout')
      await expectStatus(`${server.url}/protected`, 200, { authorization: `Bearer ${account.token}` })
      await expectStatus(`${server.url}/protected`, 401, { authorization: `Bearer ${account.token.slice(0, -4)}AAAA` })
    },

    async runRound (ctx: BenchContext, roundNumber: number): Promise<RoundResult> {
      const s = server as Server
      const measure = (route: 'open' | 'protected') => measureLoad({
        url: s.url,
        path: `/${route}`,
        headers: route === 'protected' ? { authorization: `Bearer ${(account as NonNullable<typeof account>).token}` } : {},
        connections: ctx.options.connections,
        warmup: ctx.options.warmup,
        duration: ctx.options.duration,
        pid: s.child.pid,
        profile: ctx.profile(s, `relying-${route}`, roundNumber),
        expectStatus: 200
      })
      const loads: RoundResult['loads'] = {}
      for (const route of roundNumber % 2 === 0 ? ['open', 'protected'] as const : ['protected', 'open'] as const) loads[route] = await measure(route)
      const values: Record<string, number> = {}
      for (let i = 0; i < PROPAGATION_SAMPLES; i++) values[`propagation${i}`] = await propagationMs(s, warden as Server)
      return { loads, values }
    },

    summarise (ctx: BenchContext, rounds: RoundResult[]): Row[] {
      const open = loadsOf(rounds, 'open')
      const protectedLoads = loadsOf(rounds, 'protected')
      const samples = rounds.flatMap((r) => Object.entries(r.values).filter(([k]) => k.startsWith('propagation')).map(([, v]) => v)).sort((a, b) => a - b)
      const p = (q: number) => samples[Math.min(samples.length - 1, Math.ceil(q * samples.length) - 1)] ?? Number.NaN
      return [{
        scenario: 'relying',
        label: 'open route (no auth)',
        ...loadColumns(open),
        detail: loadDetail(open)
      }, {
        scenario: 'relying',
        label: 'verifier route ÷ open route',
        ...loadColumns(protectedLoads),
        unit: 'x',
        figureDescription: 'GET /protected req/s ÷ GET /open req/s on the same relying server, per round, median',
        ...verdict(pairwise(protectedLoads.map((l) => l.rps), open.map((l) => l.rps)), { op: '>=', value: 0.9 }),
        detail: loadDetail(protectedLoads)
      }, {
        scenario: 'relying',
        label: `logout-all → first 401 on the relying service: p99 of ${samples.length}`,
        p50: round(p(0.5), 2),
        p99: round(p(0.99), 2),
        figure: round(p(0.99), 2),
        unit: 'ms',
        figureDescription: 'ms from Warden\'s 204 to POST /auth/logout-all to the relying service\'s first 401 for that token, p99 over every sample',
        figureRounds: [],
        target: { op: '<=', value: 1000 },
        pass: p(0.99) <= 1000,
        detail: { samples_ms: samples.map((v) => round(v, 2)) }
      }]
    },

    async teardown () {
      await server?.child.stop()
      await warden?.child.stop()
    }
  }
}
