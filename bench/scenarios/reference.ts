import path from 'node:path'
import { loadColumns, loadDetail, loadsOf } from '../lib/figures'
import { measureLoad } from '../lib/load'
import type { BenchContext, RoundResult, Row, Scenario, Server } from '../lib/scenario'

/**
 * Bare Fastify: one route returning {"hello":"world"} through a response schema, with
 * Warden's Fastify version and server options. The denominator of the throughput ratios.
 */
export default function reference (): Scenario {
  let server: Server | undefined

  return {
    name: 'reference',
    title: 'reference: Fastify hello world',
    description: 'GET / on a bare Fastify server with a response schema and the server options Warden uses; every throughput ratio is over this figure from the same round.',

    async setup (ctx: BenchContext) {
      server = await ctx.startScript('reference', path.join(ctx.distBench, 'servers', 'reference.js'), '/')
    },

    async runRound (ctx: BenchContext, round: number): Promise<RoundResult> {
      const s = server as Server
      const figures = await measureLoad({
        url: s.url,
        path: '/',
        connections: ctx.options.connections,
        warmup: ctx.options.warmup,
        duration: ctx.options.duration,
        pid: s.child.pid,
        profile: ctx.profile(s, 'reference', round),
        expectStatus: 200
      })
      return { loads: { reference: figures }, values: {} }
    },

    summarise (ctx: BenchContext, rounds: RoundResult[]): Row[] {
      const loads = loadsOf(rounds, 'reference')
      return [{
        scenario: 'reference',
        label: 'GET / hello world (bare Fastify)',
        ...loadColumns(loads),
        detail: { ...loadDetail(loads), start_ms: server?.startMs ?? null }
      }]
    },

    async teardown () {
      await server?.child.stop()
    }
  }
}
