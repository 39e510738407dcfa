import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { FEED_RETENTION_SECONDS } from '../src/models/state-change'
import './config'
import './propagation'
import './stores/state-changes'

/**
 * How far back each poll reads before the previous poll's time: covers a write stamped by the
 * database server just before that poll but not yet visible to it. Entries read twice are
 * dropped by id in `propagation.receive`.
 */
export const POLL_OVERLAP_MS = 5000

/**
 * Carries account-state changes between instances that share a database, with no other
 * server: every PROPAGATION_POLL_INTERVAL it reads the state-change feed (a small collection:
 * the journal's last few minutes, stamped with the database server's clock) and hands what
 * other instances wrote to `propagation.receive`. A change made elsewhere is applied here
 * within one interval plus the time of one poll. Kept as the safety net when Redis carries
 * changes at once.
 *
 * Registered before account-state: the cursor is read before account-state loads the journal,
 * so that nothing written between that load and the first poll is missed.
 */
async function propagationPoll (fastify: FastifyInstance): Promise<void> {
  const { stateChanges, propagation, log } = fastify
  const intervalMs = fastify.config.propagation.pollInterval * 1000
  /** Server time of the last successful poll's start. */
  let cursor = await stateChanges.serverTime()
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let closed = false
  let failing = false

  async function poll (): Promise<void> {
    const now = await stateChanges.serverTime()
    const changes = now.getTime() - cursor.getTime() > (FEED_RETENTION_SECONDS * 1000) - POLL_OVERLAP_MS
      // Out of touch for longer than the feed keeps changes (the database was unreachable):
      // catch up from the journal, in the order the changes were made.
      ? (await stateChanges.live(now.getTime())).sort((a, b) => a.at - b.at)
      : await stateChanges.since(new Date(cursor.getTime() - POLL_OVERLAP_MS))
    for (const change of changes) propagation.receive(change, 'poll')
    cursor = now
  }

  function schedule (): void {
    if (closed) return
    timer = setTimeout(() => {
      running = poll().then(() => {
        if (failing) log.info('state-change poll works again')
        failing = false
      }, (err: Error) => {
        if (!failing) log.warn({ err: { message: err.message } }, 'state-change poll failed; retrying every interval')
        failing = true
      }).finally(schedule)
    }, intervalMs)
    timer.unref()
  }

  fastify.addHook('onReady', async () => { schedule() })
  fastify.addHook('onClose', async () => {
    closed = true
    clearTimeout(timer)
    await running
  })
}

export default fp(propagationPoll, {
  name: 'propagation-poll',
  fastify: '5.x',
  dependencies: ['config', 'propagation', 'state-changes-store']
})
