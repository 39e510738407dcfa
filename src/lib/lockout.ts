/**
 * Lockout arithmetic, with no I/O: how long automatic locks and throttles last, and the
 * attempt gate that both the per-(username, client IP) throttle and the stand-in lock of
 * unknown usernames run on. The plugins that apply these rules keep the state (in memory,
 * Redis or MongoDB); the decisions are made here.
 */

/** A block without an end. */
export const FOREVER = Number.POSITIVE_INFINITY

export interface LockoutPolicy {
  /** consecutive failed logins that lock an account */
  threshold: number
  /** first automatic lock, ms; doubles on each repeat */
  durationMs: number
  /** longest temporary lock, ms */
  maxDurationMs: number
  /** temporary locks before the next one is permanent; undefined: never permanent */
  maxTemporary?: number
}

export interface ThrottlePolicy {
  /** failures of one (username, client IP) pair before it is throttled */
  threshold: number
  /** how long a pair remembers its failures after the last one, ms */
  windowMs: number
  /** first Retry-After, ms; doubles with each further failure */
  delayMs: number
  /** longest Retry-After, ms */
  maxDelayMs: number
}

/**
 * Block lengths by block number: entry `i` is the length of block `i + 1`; the last entry
 * holds for every later block. `FOREVER` marks a permanent block.
 */
export type Schedule = readonly number[]

/** Doubling from `first` up to `cap`, as a schedule that ends once the cap is reached. */
function doubling (first: number, cap: number): number[] {
  const lengths: number[] = []
  let length = first
  while (length < cap) {
    lengths.push(length)
    length *= 2
  }
  lengths.push(cap)
  return lengths
}

/** Automatic lock lengths: LOCKOUT_DURATION doubling up to LOCKOUT_MAX_DURATION, then permanent after LOCKOUT_MAX_TEMPORARY. */
export function lockSchedule (policy: LockoutPolicy): Schedule {
  const lengths = doubling(policy.durationMs, policy.maxDurationMs)
  if (policy.maxTemporary === undefined) return lengths
  while (lengths.length < policy.maxTemporary) lengths.push(lengths[lengths.length - 1])
  return [...lengths.slice(0, policy.maxTemporary), FOREVER]
}

/** Throttle delays: THROTTLE_DELAY doubling with each further failure up to THROTTLE_MAX_DELAY. */
export function throttleSchedule (policy: ThrottlePolicy): Schedule {
  return doubling(policy.delayMs, policy.maxDelayMs)
}

/** The length of block number `n` (1-based). */
export function blockLength (schedule: Schedule, n: number): number {
  return schedule[Math.min(Math.max(n, 1), schedule.length) - 1]
}

/** When the `n`-th automatic lock starting at `now` ends (ms), or FOREVER. */
export function lockEnd (policy: LockoutPolicy, n: number, now: number): number {
  return now + blockLength(lockSchedule(policy), n)
}

/**
 * An attempt gate: every attempt is counted when it starts (before the secret is checked,
 * so a parallel burst cannot get more than `threshold` checks in), a success clears the gate,
 * and reaching `threshold` blocks further attempts for the next length of `schedule`.
 */
export interface GateRule {
  threshold: number
  schedule: Schedule
  /**
   * true: a block starts the count over (an account lock: `threshold` more attempts after it);
   * false: each attempt after a block blocks again, longer (a throttle).
   */
  restartAfterBlock: boolean
  /** how long an idle gate is remembered after its last attempt (or after its block ends), ms */
  memoryMs: number
}

export interface GateState {
  /** attempts counted since the last success or block */
  attempts: number
  /** blocks so far */
  blocks: number
  /** end of the current block (ms; FOREVER; 0: none) */
  until: number
}

export interface GateVerdict {
  allowed: boolean
  /** when refused: ms until the block ends (FOREVER for a permanent block) */
  retryAfterMs: number
  /** the state to keep */
  state: GateState
  /** when the kept state may be forgotten (ms; FOREVER) */
  expiresAt: number
}

export const OPEN_GATE: GateState = Object.freeze({ attempts: 0, blocks: 0, until: 0 })

/** Lets one attempt through `rule` at `now`, or refuses it while blocked (refusals are not counted). */
export function enterGate (rule: GateRule, state: GateState = OPEN_GATE, now: number): GateVerdict {
  if (state.until > now) {
    return { allowed: false, retryAfterMs: state.until - now, state, expiresAt: state.until + rule.memoryMs }
  }
  let { attempts, blocks, until } = state
  attempts += 1
  if (attempts >= rule.threshold) {
    blocks += 1
    until = now + blockLength(rule.schedule, blocks)
    if (rule.restartAfterBlock) attempts = 0
  }
  const next = { attempts, blocks, until }
  return { allowed: true, retryAfterMs: 0, state: next, expiresAt: Math.max(now, until) + rule.memoryMs }
}

/** Whole seconds for a Retry-After header (at least 1), or undefined for a permanent block. */
export function retryAfterSeconds (ms: number): number | undefined {
  if (!Number.isFinite(ms)) return undefined
  return Math.max(1, Math.ceil(ms / 1000))
}
