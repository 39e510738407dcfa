import path from 'node:path'
import { loadColumns, loadDetail, loadsOf, pairwise, verdict } from '../lib/figures'
import { measureLoad } from '../lib/load'
import type { BenchContext, RoundResult, Row, Scenario, Server } from '../lib/scenario'
import { accountWithToken, expectStatus, jwks } from '../lib/warden'

/**
 * The peer: Express 5 + passport-jwt + jsonwebtoken doing the same protected check with
 * Warden's public key. Figure: Warden verify req/s ÷ peer req/s, both from the same round.
 */
export default function peer (): Scenario {
  let server: Server | undefined
  let token = ''

  return {
    name: 'peer',
    title: 'peer: Express 5 + passport-jwt',
    description: 'GET /auth/verify on Express 5 + passport-jwt + jsonwebtoken with the same RS256 key (from Warden\'s JWKS) and the same checks. Figure: Warden verify req/s ÷ peer req/s of the same round.',
    needs: ['verify'],

    async setup (ctx: BenchContext) {
      // A short-lived Warden issues the token and publishes the key; every Warden child of the run shares them.
      const warden = await ctx.startWarden('warden-peer-setup')
      let keys
      try {
        token = (await accountWithToken(warden.url, 'peer')).token
        keys = await jwks(warden.url)
      } finally {
        await warden.child.stop()
      }
      const alg = ctx.wardenBaseEnv.JWT_ALG ?? 'RS256'
      const key = keys.find((k) => k.alg === alg)
      if (key === undefined) throw new Error(`the peer needs a published ${alg} key (JWT_ALG=${alg}); Warden's JWKS has ${keys.map((k) => k.alg).join(', ') || 'none'}`)
      server = await ctx.startScript('express-peer', path.join(ctx.distBench, 'servers', 'express-peer.js'), '/health', {
        PEER_JWK: JSON.stringify(key),
        PEER_ALG: alg,
        PEER_ISSUER: ctx.wardenBaseEnv.JWT_ISSUER,
        PEER_AUDIENCE: ctx.wardenBaseEnv.JWT_AUDIENCE
      })
      await expectStatus(`${server.url}/auth/verify`, 204, { authorization: `Bearer ${token}` })
      await expectStatus(`${server.url}/auth/verify`, 401, { authorization: `Bearer ${token.slice(0, -4)}AAAA` })
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
        profile: ctx.profile(s, 'peer', round),
        expectStatus: 204
      })
      return { loads: { peer: figures }, values: {} }
    },

    summarise (ctx: BenchContext, rounds: RoundResult[], others): Row[] {
      const loads = loadsOf(rounds, 'peer')
      const warden = loadsOf(others.get('verify') ?? [], 'verify')
      return [{
        scenario: 'peer',
        label: 'Warden verify ÷ Express+passport-jwt',
        ...loadColumns(loads),
        unit: 'x',
        figureDescription: 'Warden GET /auth/verify req/s ÷ peer req/s, per round, median',
        ...verdict(pairwise(warden.map((l) => l.rps), loads.map((l) => l.rps)), { op: '>=', value: 20 }),
        detail: loadDetail(loads)
      }]
    },

    async teardown () {
      await server?.child.stop()
    }
  }
}
