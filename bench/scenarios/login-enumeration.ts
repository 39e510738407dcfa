import { randomBytes } from 'node:crypto'
import { loadColumns, loadDetail, loadsOf, pairwise, round, verdict } from '../lib/figures'
import { measureLoad, type LoadSpec } from '../lib/load'
import type { BenchContext, RoundResult, Row, Scenario, Server } from '../lib/scenario'
import { newAccount, register, type Account } from '../lib/warden'

/** Distinct unknown usernames cycled through, so that no cache or counter favours one. */
const UNKNOWN_NAMES = 64

function loginRequest (username: string, password: string) {
  return {
    method: 'POST' as const,
    path: '/auth/login',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password })
  }
}

/**
 * Whether a login's latency tells an attacker that an account exists: POST /auth/login with a
 * wrong password for an existing account, next to logins for usernames that do not exist,
 * both at concurrency 1 in the same round (alternating which goes first). Throttles, locks
 * are set out of reach (the rate limits already are in the bench) so that both paths reach the password check.
 */
export default function loginEnumeration (): Scenario {
  let server: Server | undefined
  let account: Account | undefined

  function spec (ctx: BenchContext, s: Server, requests: ReturnType<typeof loginRequest>[]): LoadSpec {
    return {
      url: s.url,
      path: '/auth/login',
      requests,
      connections: 1,
      warmup: ctx.options.quick ? 1 : 2,
      duration: ctx.options.loginDuration,
      pid: s.child.pid,
      dbPid: ctx.dbPid,
      expectStatus: 401
    }
  }

  return {
    name: 'login-enumeration',
    title: 'login: unknown user vs wrong password',
    description: 'p50 of POST /auth/login for unknown usernames ÷ p50 for an existing account with a wrong password, concurrency 1, same round. Target: within 10 % either way.',

    async setup (ctx: BenchContext) {
      server = await ctx.startWarden('warden-login-enumeration', {
        THROTTLE_THRESHOLD: '1000000000',
        LOCKOUT_THRESHOLD: '1000000000'
      })
      account = newAccount('enum')
      await register(server.url, account)
    },

    async runRound (ctx: BenchContext, roundNo: number): Promise<RoundResult> {
      const s = server as Server
      const a = account as Account
      const wrong = [loginRequest(a.username, `${a.password}-wrong`)]
      const unknown = Array.from({ length: UNKNOWN_NAMES }, () => loginRequest(`nobody-${randomBytes(6).toString('hex')}`, a.password))
      const order = roundNo % 2 === 1 ? ['wrong', 'unknown'] as const : ['unknown', 'wrong'] as const
      const loads: RoundResult['loads'] = {}
      for (const which of order) loads[which] = await measureLoad(spec(ctx, s, which === 'wrong' ? wrong : unknown))
      return { loads, values: {} }
    },

    summarise (_ctx: BenchContext, rounds: RoundResult[]): Row[] {
      const wrong = loadsOf(rounds, 'wrong')
      const unknown = loadsOf(rounds, 'unknown')
      const ratios = pairwise(unknown.map((l) => l.p50), wrong.map((l) => l.p50))
      return [
        { scenario: 'login-enumeration', label: 'login, wrong password (c=1)', ...loadColumns(wrong), detail: loadDetail(wrong) },
        {
          scenario: 'login-enumeration',
          label: 'login, unknown user: p50 ÷ wrong-password p50',
          ...loadColumns(unknown),
          unit: 'x',
          figureDescription: 'unknown-user login p50 ÷ wrong-password login p50, per round, median; the target is the distance from 1',
          ...verdict(ratios.map((r) => Math.abs(r - 1)), { op: '<=', value: 0.10 }),
          detail: { ...loadDetail(unknown), ratio_rounds: ratios.map((r) => round(r, 3)) }
        }
      ]
    },

    async teardown () {
      await server?.child.stop()
    }
  }
}
