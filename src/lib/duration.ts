const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 }
const DURATION = /^(\d+)\s*([smhd]?)$/

/**
 * Parses a duration such as `900`, `900s`, `15m`, `12h` or `30d` into whole seconds.
 * Returns `null` for anything else (negative, fractional, unknown unit, empty).
 */
export function parseDuration (value: string | number): number | null {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? value : null
  }
  const match = DURATION.exec(value.trim())
  if (match === null) return null
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2] || 's']
  return Number.isSafeInteger(seconds) ? seconds : null
}
