/** Helpers for the brute-force protection tests: login attempts from chosen addresses, a clock to move. */
import type { FastifyInstance } from 'fastify'
import type { Teardown } from './helper'

export const WRONG = 'not the right password'

/** Settings of an app that believes X-Forwarded-For (each attempt may come from its own address). */
export const PROXIED = { TRUST_PROXY: 'true' }

export interface AttemptOptions {
  ip?: string
  deviceToken?: string
  cookie?: string
}

/** POST /auth/login as a client at `ip` (X-Forwarded-For, believed with TRUST_PROXY=true). */
export function attempt (app: FastifyInstance, username: string, password: string, opts: AttemptOptions = {}) {
  const headers: Record<string, string> = {}
  if (opts.ip !== undefined) headers['x-forwarded-for'] = opts.ip
  if (opts.cookie !== undefined) headers.cookie = opts.cookie
  const payload: Record<string, string> = { username, password }
  if (opts.deviceToken !== undefined) payload.device_token = opts.deviceToken
  return app.inject({ method: 'POST', url: '/auth/login', headers, payload })
}

/** A distinct documentation address (RFC 5737) per number. */
export function ip (n: number): string {
  return `198.51.100.${n % 250}`
}

const realNow = Date.now

/** Sets Date.now `ms` ahead of the real clock until the test ends (the lock and throttle clocks read it). */
export function advanceClock (t: Teardown, ms: number): void {
  Date.now = () => realNow() + ms
  t.teardown(() => { Date.now = realNow })
}

/** Polls `probe` until it returns a value other than undefined; fails after `timeoutMs`. */
export async function eventually<T> (probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
