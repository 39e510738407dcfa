/**
 * The life of a signing key, as pure rules. A key is `active` while it signs; a rotation makes
 * a new key active and the old one `retiring`: it signs nothing more but still verifies, and
 * stays in the JWKS, until every token it signed has expired (ACCESS_TOKEN_TTL after the
 * rotation, plus a margin for clock skew and slow propagation). Then it is `retired`: gone from
 * the JWKS, refused for verification, its private part erased.
 */

export const KEY_STATES = ['active', 'retiring', 'retired'] as const
export type KeyState = typeof KEY_STATES[number]

/** How long past ACCESS_TOKEN_TTL a replaced key keeps verifying. */
export const RETIREMENT_MARGIN_MS = 5 * 60_000

export interface KeyTimes {
  kid: string
  generation: number
  state: KeyState
  /** ms since the epoch */
  createdAt: number
  /** ms since the epoch; when a retiring key leaves the JWKS (null while active) */
  retireAt: number | null
}

/** When a key replaced at `rotatedAt` stops verifying. */
export function retirementTime (rotatedAt: number, accessTokenTtlMs: number): number {
  return rotatedAt + accessTokenTtlMs + RETIREMENT_MARGIN_MS
}

export interface KeyPlan<K extends KeyTimes> {
  /** The key that signs: the newest active one (undefined: a new key must be made). */
  signing: K | undefined
  /** Keys that verify now, the signing key first, then the retiring ones, newest first. */
  verifying: Array<{ key: K, retireAt: number | null }>
  /** Keys whose time is up but which are not recorded as retired yet. */
  due: K[]
  /** Every key with the state it has at `now`. */
  states: Array<{ key: K, state: KeyState, retireAt: number | null }>
  /** When this plan next changes by itself (a retirement), or Infinity. */
  nextChangeAt: number
}

/**
 * What each key does at `now`. A key left `active` below a newer key (a rotation interrupted
 * between writing the new key and demoting the old one) counts as retiring from the moment its
 * successor was made.
 */
export function planKeys<K extends KeyTimes> (keys: readonly K[], now: number, accessTokenTtlMs: number): KeyPlan<K> {
  const sorted = [...keys].sort((a, b) => b.generation - a.generation)
  const signing = sorted.find((k) => k.state === 'active')
  const plan: KeyPlan<K> = { signing, verifying: [], due: [], states: [], nextChangeAt: Infinity }
  for (let i = 0; i < sorted.length; i++) {
    const key = sorted[i]
    if (key === signing) {
      plan.verifying.unshift({ key, retireAt: null })
      plan.states.push({ key, state: 'active', retireAt: null })
      continue
    }
    if (key.state === 'retired') {
      plan.states.push({ key, state: 'retired', retireAt: key.retireAt })
      continue
    }
    const successor = sorted[i - 1] as K | undefined
    const retireAt = key.retireAt ?? retirementTime(successor?.createdAt ?? key.createdAt, accessTokenTtlMs)
    if (retireAt > now) {
      plan.verifying.push({ key, retireAt })
      plan.states.push({ key, state: 'retiring', retireAt })
      plan.nextChangeAt = Math.min(plan.nextChangeAt, retireAt)
    } else {
      plan.due.push(key)
      plan.states.push({ key, state: 'retired', retireAt })
    }
  }
  return plan
}

/** When the key made at `createdAt` is due for an automatic rotation. */
export function rotationTime (createdAt: number, intervalMs: number): number {
  return createdAt + intervalMs
}
