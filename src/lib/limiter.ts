/**
 * Runs at most `limit` tasks at once; the others wait their turn in arrival order.
 * Used to keep memory-hard password hashing to one computation per core.
 */
export function createLimiter (limit: number) {
  let running = 0
  const waiting: Array<() => void> = []

  return async function run<T> (task: () => Promise<T>): Promise<T> {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve))
    else running++
    try {
      return await task()
    } finally {
      const next = waiting.shift()
      if (next !== undefined) next()
      else running--
    }
  }
}
