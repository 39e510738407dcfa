/** The p-th percentile (0-100) of ascending values, linearly interpolated; NaN when empty. */
export function percentile (sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length
  if (n === 0) return NaN
  if (n === 1) return sorted[0]
  const rank = (p / 100) * (n - 1)
  const lo = Math.floor(rank)
  const hi = Math.min(n - 1, lo + 1)
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo)
}

/** Median of the finite values; NaN when there are none. */
export function median (values: Array<number | null | undefined>): number {
  const finite = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b)
  return percentile(finite, 50)
}

/** Largest of the finite values; NaN when there are none. */
export function max (values: Array<number | null | undefined>): number {
  const finite = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v))
  return finite.length === 0 ? NaN : Math.max(...finite)
}

export function sum (values: number[]): number {
  let s = 0
  for (const v of values) s += v
  return s
}
