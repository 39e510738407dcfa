import path from 'node:path'
import { loadColumns, loadDetail, loadsOf, pairwise, round, verdict } from '../lib/figures'
import { measureLoad, type LoadSpec } from '../lib/load'
import { firstMessage, spawnNode } from '../lib/processes'
import type { BenchContext, RoundResult, Row, Scenario, Server } from '../lib/scenario'
import { median, percentile } from '../lib/stats'
import { login, loginRequests, newAccount, register, type Account } from '../lib/warden'
import type { Argon2Figures } from '../workers/argon2-verify'

/**
 * POST /auth/login at concurrency 1 and at 2×cores, against bare argon2.verify with the
 * same parameters measured in a child process in the same round. A login is one Argon2id
 * verify plus a user lookup and three writes (session, last login, login event); the
 * figures say how much of its time and throughput is the hash itself.
 */
export default function loginScenario (): Scenario {
  let server: Server | undefined
  let accounts: Account[] = []

  function spec (ctx: BenchContext, s: Server, connections: number, roundNo: number): LoadSpec {
    return {
      url: s.url,
      path: '/auth/login',
      requests: loginRequests(accounts),
      connections,
      warmup: ctx.options.quick ? 1 : 2,
      duration: ctx.options.loginDuration,
      pid: s.child.pid,
      dbPid: ctx.dbPid,
      profile: ctx.profile(s, `login-c${connections}`, roundNo),
      expectStatus: 200
    }
  }

  async function argon2Baseline (ctx: BenchContext, roundNo: number): Promise<Argon2Figures> {
    const concurrency = 2 * ctx.cores
    const iterations = ctx.options.argon2Iterations
    const child = spawnNode({
      name: `argon2-verify-${roundNo}`,
      script: path.join(ctx.distBench, 'workers', 'argon2-verify.js'),
      args: [String(iterations), String(concurrency), String(Math.max(concurrency * 4, Math.round(iterations / 2)))],
      env: { ...process.env, ...ctx.wardenBaseEnv },
      logFile: path.join(ctx.runDir, 'logs', 'argon2-verify.log'),
      ipc: true,
      cwd: ctx.root
    })
    try {
      return await firstMessage<Argon2Figures>(child, 120_000)
    } finally {
      await child.stop(1000)
    }
  }

  return {
    name: 'login',
    title: 'login: POST /auth/login vs argon2.verify',
    description: 'Logins per second and latency at concurrency 1 and 2×cores, over bare argon2.verify with the same parameters timed sequentially in a child process in the same round.',

    async setup (ctx: BenchContext) {
      server = await ctx.startWarden('warden-login')
      accounts = Array.from({ length: Math.max(4, 2 * ctx.cores) }, () => newAccount('login'))
      for (const a of accounts) await register(server.url, a)
      await login(server.url, accounts[0])
    },

    async runRound (ctx: BenchContext, roundNo: number): Promise<RoundResult> {
      const s = server as Server
      // The bare baseline first in odd rounds, last in even ones (A B, B A).
      const odd = roundNo % 2 === 1
      const baseline = odd ? await argon2Baseline(ctx, roundNo) : undefined
      const c1 = await measureLoad(spec(ctx, s, 1, roundNo))
      const cN = await measureLoad(spec(ctx, s, 2 * ctx.cores, roundNo))
      const argon2 = baseline ?? await argon2Baseline(ctx, roundNo)
      const sorted = [...argon2.sequentialMs].sort((a, b) => a - b)
      return {
        loads: { c1, cN },
        values: {
          argon2P50Ms: percentile(sorted, 50),
          argon2P99Ms: percentile(sorted, 99),
          argon2ParallelPerSec: argon2.parallel.ops / argon2.parallel.seconds,
          argon2MemoryKiB: argon2.params.memoryCost,
          argon2TimeCost: argon2.params.timeCost,
          argon2Parallelism: argon2.params.parallelism
        }
      }
    },

    summarise (ctx: BenchContext, rounds: RoundResult[]): Row[] {
      const c1 = loadsOf(rounds, 'c1')
      const cN = loadsOf(rounds, 'cN')
      const argonP50 = rounds.map((r) => r.values.argon2P50Ms)
      const argonPar = rounds.map((r) => r.values.argon2ParallelPerSec)
      const cores = ctx.cores
      const first = rounds[0]?.values ?? {}
      const params = `m=${first.argon2MemoryKiB} KiB, t=${first.argon2TimeCost}, p=${first.argon2Parallelism}`
      // Ideal logins/s: every core busy hashing, one verify taking the sequential p50.
      const ideal = argonP50.map((ms) => cores / (ms / 1000))
      return [
        {
          scenario: 'login',
          label: `argon2.verify bare (${params})`,
          rps: median(argonP50.map((ms) => 1000 / ms)),
          p50: median(argonP50),
          p99: median(rounds.map((r) => r.values.argon2P99Ms)),
          detail: {
            iterations_per_round: ctx.options.argon2Iterations,
            p50_ms_rounds: argonP50.map((v) => round(v, 3)),
            parallel_per_sec: round(median(argonPar), 2),
            parallel_concurrency: 2 * cores,
            ideal_logins_per_sec: round(median(ideal), 2)
          }
        },
        {
          scenario: 'login',
          label: 'login c=1: p50 ÷ argon2 p50',
          ...loadColumns(c1),
          unit: 'x',
          figureDescription: 'login p50 at concurrency 1 ÷ bare argon2.verify p50, per round, median',
          ...verdict(pairwise(c1.map((l) => l.p50), argonP50), { op: '<=', value: 1.10 }),
          detail: loadDetail(c1)
        },
        {
          scenario: 'login',
          label: `login c=${2 * cores}: ÷ (cores ÷ argon2 t)`,
          ...loadColumns(cN),
          unit: 'x',
          figureDescription: `logins/s at concurrency ${2 * cores} ÷ (${cores} cores ÷ argon2.verify p50), per round, median`,
          ...verdict(pairwise(cN.map((l) => l.rps), ideal), { op: '>=', value: 0.9 }),
          detail: {
            ...loadDetail(cN),
            bare_argon2_parallel_per_sec: round(median(argonPar), 2),
            ratio_to_bare_argon2_parallel: round(median(pairwise(cN.map((l) => l.rps), argonPar)), 3)
          }
        },
        {
          scenario: 'login',
          label: `login c=${2 * cores}: ÷ bare argon2 at c=${2 * cores}`,
          unit: 'x',
          figureDescription: `logins/s at concurrency ${2 * cores} ÷ bare argon2.verify calls/s at the same concurrency (the practical ceiling)`,
          ...verdict(pairwise(cN.map((l) => l.rps), argonPar), { op: '>=', value: 0.90 })
        },
        {
          scenario: 'login',
          label: 'logins/s per core',
          unit: '/s',
          figureDescription: `logins/s at concurrency ${2 * cores} ÷ ${cores} cores`,
          ...verdict(cN.map((l) => l.rps / cores))
        }
      ]
    },

    async teardown () {
      await server?.child.stop()
    }
  }
}
