import t from 'tap'
import type { FastifyInstance } from 'fastify'
import redisPlugin from '../../plugins/redis'
import rateLimit from '../../plugins/rate-limit'
import throttle from '../../plugins/throttle'
import { bare, type Teardown } from '../helper'
import { advanceClock } from '../brute-force'
import { startRedis } from '../servers'

async function throttleApp (t: Teardown, env: Record<string, string>): Promise<FastifyInstance> {
  const app = await bare(t, { THROTTLE_THRESHOLD: '2', THROTTLE_DELAY: '10', THROTTLE_MAX_DELAY: '20', LOCKOUT_THRESHOLD: '2', LOCKOUT_DURATION: '30', LOCKOUT_MAX_DURATION: '60', LOCKOUT_MAX_TEMPORARY: '2', ...env })
  await app.register(redisPlugin)
  await app.register(rateLimit)
  await app.register(throttle)
  await app.ready()
  return app
}

/** The same script of attempts against a pair and an unknown name; what each step answered. */
async function script (t: Teardown, app: FastifyInstance): Promise<string[]> {
  const seen: string[] = []
  const step = async (at: number, what: () => Promise<{ allowed: boolean, retryAfterMs: number }>) => {
    advanceClock(t, at)
    const v = await what()
    seen.push(v.allowed ? 'in' : Number.isFinite(v.retryAfterMs) ? `wait ${Math.round(v.retryAfterMs / 1000)}s` : 'forever')
  }
  const pair = () => app.throttle.enter('alice', '203.0.113.1')
  for (const at of [0, 0, 0, 11_000, 11_000, 32_000, 32_000, 53_000]) await step(at, pair)
  await app.throttle.clear('alice', '203.0.113.1')
  await step(53_000, pair)
  const unknown = () => app.throttle.enterUnknown('mallory')
  for (const at of [0, 0, 0, 31_000, 31_000, 31_000, 92_000, 92_000, 92_000, 10 * 86400_000]) await step(at, unknown)
  return seen
}

const EXPECTED = [
  // pair: two in, then 10s; one in after it, then 20s (capped); the next again 20s; cleared
  'in', 'in', 'wait 10s', 'in', 'wait 20s', 'in', 'wait 20s', 'in', 'in',
  // unknown name: two in, locked 30s; two in, locked 60s; two in, then permanent (LOCKOUT_MAX_TEMPORARY=2)
  'in', 'in', 'wait 30s', 'in', 'in', 'wait 60s', 'in', 'in', 'forever', 'forever'
]

t.test('in memory: the throttle and the stand-in lock follow the policy', async (t) => {
  const app = await throttleApp(t, {})
  t.same(await script(t, app), EXPECTED)
})

t.test('in Redis: the same answers (the script runs the same gate atomically)', async (t) => {
  const redis = await startRedis(t)
  const app = await throttleApp(t, { REDIS_URL: redis.url })
  t.same(await script(t, app), EXPECTED)
})

t.test('in Redis: parallel attempts of one pair are counted one by one', async (t) => {
  const redis = await startRedis(t)
  const app = await throttleApp(t, { REDIS_URL: redis.url, THROTTLE_THRESHOLD: '5' })
  const verdicts = await Promise.all(Array.from({ length: 20 }, () => app.throttle.enter('alice', '203.0.113.9')))
  t.equal(verdicts.filter((v) => v.allowed).length, 5)
})
