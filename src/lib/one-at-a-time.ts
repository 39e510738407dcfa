/**
 * Runs tasks that share a key one at a time, in arrival order; tasks with other keys run
 * alongside. Used where a database does not apply concurrent updates of one document
 * atomically (FerretDB 1.x loses concurrent `$inc`s on its SQLite backend): within one process
 * the updates of one document are then applied in turn.
 */
export function oneAtATime () {
  const tails = new Map<string, Promise<unknown>>()

  return async function run<T> (key: string, task: () => Promise<T>): Promise<T> {
    const previous = tails.get(key) ?? Promise.resolve()
    const result = previous.then(task, task)
    const tail = result.then(() => undefined, () => undefined)
    tails.set(key, tail)
    try {
      return await result
    } finally {
      if (tails.get(key) === tail) tails.delete(key)
    }
  }
}
