import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'
import {
  enterGate, lockSchedule, throttleSchedule, FOREVER,
  type GateRule, type GateState
} from '../src/lib/lockout'
import './config'
import './redis'
import { clientKey } from './rate-limit'

export interface Verdict {
  allowed: boolean
  /** when refused: ms until it may be tried again (FOREVER for a permanent stand-in lock) */
  retryAfterMs: number
}

export interface Throttle {
  /**
   * Counts one login attempt of (username, client IP) before its password is checked, or
   * refuses it while the pair is throttled. Unknown usernames are counted alike. Rejects when
   * the shared store (Redis) cannot be asked.
   */
  enter(usernameKey: string, ip: string): Promise<Verdict>
  /** A successful login: the pair starts over. */
  clear(usernameKey: string, ip: string): Promise<void>
  /**
   * The stand-in lock of a username that does not exist: counted and blocked exactly as an
   * account is locked (LOCKOUT_THRESHOLD, LOCKOUT_DURATION doubling...), so that a lock tells
   * an attacker nothing about whether the account exists.
   */
  enterUnknown(usernameKey: string): Promise<Verdict>
}

declare module 'fastify' {
  interface FastifyInstance {
    throttle: Throttle
  }
}

/** Where gates live: this instance's memory, or Redis shared by every instance. */
interface GateStore {
  enter(key: string, rule: GateRule, now: number): Promise<Verdict>
  clear(key: string): Promise<void>
}

/** How long the stand-in lock of an unknown username is remembered after its last attempt. */
const UNKNOWN_MEMORY_MS = 24 * 3600_000
/** Redis keeps a permanent stand-in lock this long (an account's lasts until an unlock). */
const FOREVER_IN_REDIS_MS = 30 * 24 * 3600_000
/** Gates kept in memory at most; the oldest go first. */
const MEMORY_GATES = 100_000

function memoryStore (): GateStore {
  const gates = new Map<string, { state: GateState, expiresAt: number }>()
  return {
    async enter (key, rule, now) {
      const kept = gates.get(key)
      const verdict = enterGate(rule, kept !== undefined && kept.expiresAt > now ? kept.state : undefined, now)
      gates.delete(key) // re-inserted last: the map's order is the eviction order
      if (gates.size >= MEMORY_GATES) gates.delete(gates.keys().next().value as string)
      gates.set(key, { state: verdict.state, expiresAt: verdict.expiresAt })
      return { allowed: verdict.allowed, retryAfterMs: verdict.retryAfterMs }
    },
    async clear (key) {
      gates.delete(key)
    }
  }
}

/**
 * The same gate as `enterGate` (src/lib/lockout.ts), run atomically inside Redis. The rule's
 * numbers come from the policy module; -1 stands for FOREVER.
 * KEYS[1] gate; ARGV: now, threshold, restart (1/0), memoryMs, foreverMs, schedule...
 */
const GATE_SCRIPT = `
local now = tonumber(ARGV[1])
local threshold = tonumber(ARGV[2])
local restart = ARGV[3] == '1'
local memory = tonumber(ARGV[4])
local forever = tonumber(ARGV[5])
local s = redis.call('HMGET', KEYS[1], 'a', 'b', 'u')
local attempts = tonumber(s[1]) or 0
local blocks = tonumber(s[2]) or 0
local untilAt = tonumber(s[3]) or 0
if untilAt < 0 then return {0, -1} end
if untilAt > now then return {0, untilAt - now} end
attempts = attempts + 1
local ttl = memory
if attempts >= threshold then
  blocks = blocks + 1
  local length = tonumber(ARGV[5 + math.min(blocks, #ARGV - 5)])
  if length < 0 then
    untilAt = -1
    ttl = forever
  else
    untilAt = now + length
    ttl = length + memory
  end
  if restart then attempts = 0 end
end
redis.call('HSET', KEYS[1], 'a', attempts, 'b', blocks, 'u', untilAt)
redis.call('PEXPIRE', KEYS[1], ttl)
return {1, 0}
`

type GateCommand = (key: string, ...args: Array<string | number>) => Promise<[number, number]>

function redisStore (redis: Redis): GateStore {
  redis.defineCommand('wardenGate', { numberOfKeys: 1, lua: GATE_SCRIPT })
  const gate = (redis as unknown as { wardenGate: GateCommand }).wardenGate.bind(redis)
  return {
    async enter (key, rule, now) {
      const schedule = rule.schedule.map((length) => length === FOREVER ? -1 : Math.round(length))
      const [allowed, retryAfterMs] = await gate(`warden:gate:${key}`, now, rule.threshold, rule.restartAfterBlock ? 1 : 0, rule.memoryMs, FOREVER_IN_REDIS_MS, ...schedule)
      return { allowed: allowed === 1, retryAfterMs: retryAfterMs < 0 ? FOREVER : retryAfterMs }
    },
    async clear (key) {
      await redis.del(`warden:gate:${key}`)
    }
  }
}

/**
 * Throttling per (username, client IP; an IPv6 client per /64), and the stand-in lock of unknown usernames: attempt
 * gates (src/lib/lockout.ts) kept in memory, or in Redis with REDIS_URL so that every instance
 * counts the same attempts.
 */
async function throttle (fastify: FastifyInstance): Promise<void> {
  const { throttleThreshold, throttle: t, lockout } = fastify.config
  const store = fastify.redis === null ? memoryStore() : redisStore(fastify.redis)

  const pairRule: GateRule = {
    threshold: throttleThreshold,
    schedule: throttleSchedule({ threshold: throttleThreshold, windowMs: t.window * 1000, delayMs: t.delay * 1000, maxDelayMs: t.maxDelay * 1000 }),
    restartAfterBlock: false,
    memoryMs: t.window * 1000
  }
  const unknownRule: GateRule = {
    threshold: lockout.threshold,
    schedule: lockSchedule({ threshold: lockout.threshold, durationMs: lockout.duration * 1000, maxDurationMs: lockout.maxDuration * 1000, maxTemporary: lockout.maxTemporary }),
    restartAfterBlock: true,
    memoryMs: UNKNOWN_MEMORY_MS
  }
  // An address never holds '|': the first one ends it, whatever the username holds. An IPv6
  // client is its /64, as for the rate limits: a host with a /64 would otherwise get a fresh
  // pair for every address it picks.
  const pair = (usernameKey: string, ip: string): string => `throttle:${clientKey(ip)}|${usernameKey}`

  fastify.decorate('throttle', {
    enter: (usernameKey: string, ip: string) => store.enter(pair(usernameKey, ip), pairRule, Date.now()),
    clear: (usernameKey: string, ip: string) => store.clear(pair(usernameKey, ip)),
    enterUnknown: (usernameKey: string) => store.enter(`unknown:${usernameKey}`, unknownRule, Date.now())
  } satisfies Throttle)
}

export default fp(throttle, { name: 'throttle', fastify: '5.x', dependencies: ['config', 'redis'] })
