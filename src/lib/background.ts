import type { FastifyInstance } from 'fastify'

/**
 * Work a plugin starts and does not wait for (a notice sent after the response, housekeeping),
 * awaited when the app closes so that none is cut off. Returns the function that hands a task
 * over; a task must handle its own failures.
 */
export function background (fastify: FastifyInstance): (task: Promise<void>) => void {
  const pending = new Set<Promise<void>>()
  fastify.addHook('onClose', async () => { await Promise.all(pending) })
  return function track (task: Promise<void>): void {
    pending.add(task)
    void task.finally(() => pending.delete(task))
  }
}
