import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { StateChange } from './stores/state-changes'
import './metrics'

export type ChangeListener = (change: StateChange) => void

/**
 * The seam along which account-state changes travel between instances. The account-state
 * plugin publishes every change it makes; transports (a poll of the state-change journal,
 * Redis pub/sub) carry it to other instances and hand what they receive to `receive`.
 * Without a transport it is in-process only.
 */
export interface Propagation {
  /** A change made on this instance, already applied here. */
  publish(change: StateChange): void
  /**
   * A change that arrived from another instance (each id is delivered once), by `transport`
   * (`poll`, `redis`): the label of the propagation-lag metric.
   */
  receive(change: StateChange, transport?: string): void
  /** Listens to changes made elsewhere (what this instance must apply). */
  onRemote(listener: ChangeListener): void
  /** Listens to every change, local or remote; returns what stops listening. */
  onChange(listener: ChangeListener): () => void
  /** Transports listen here to send what this instance publishes. */
  onPublish(listener: ChangeListener): void
}

declare module 'fastify' {
  interface FastifyInstance {
    propagation: Propagation
  }
}

/** Ids of received changes kept to drop duplicates (a poll and Redis may both deliver one). */
const SEEN_LIMIT = 10_000
/** Seconds from a change on one instance to its arrival on another: Redis is immediate, a poll takes up to its interval. */
const LAG_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300]

async function propagation (fastify: FastifyInstance): Promise<void> {
  const remote: ChangeListener[] = []
  const all = new Set<ChangeListener>()
  const outgoing: ChangeListener[] = []
  const seen = new Set<string>()
  // The first delivery of each change: the lag that decided when this instance applied it.
  const lag = fastify.metrics.histogram({
    name: 'propagation_lag_seconds',
    help: 'Time from a change on another instance (its `at`, that instance\'s clock) to its arrival here, by transport',
    labelNames: ['transport'],
    buckets: LAG_BUCKETS
  })

  function notify (listeners: Iterable<ChangeListener>, change: StateChange): void {
    for (const listener of listeners) {
      try {
        listener(change)
      } catch (err) {
        fastify.log.error({ err, kind: change.kind }, 'a state-change listener failed')
      }
    }
  }

  function remember (id: string | undefined): boolean {
    if (id === undefined) return true
    if (seen.has(id)) return false
    if (seen.size >= SEEN_LIMIT) seen.delete(seen.values().next().value as string)
    seen.add(id)
    return true
  }

  fastify.decorate('propagation', {
    publish (change: StateChange) {
      remember(change.id)
      notify(outgoing, change)
      notify(all, change)
    },
    receive (change: StateChange, transport = 'other') {
      if (!remember(change.id)) return
      lag.observe({ transport }, Math.max(0, Date.now() - change.at) / 1000)
      notify(remote, change)
      notify(all, change)
    },
    onRemote (listener: ChangeListener) { remote.push(listener) },
    onChange (listener: ChangeListener) {
      all.add(listener)
      return () => { all.delete(listener) }
    },
    onPublish (listener: ChangeListener) { outgoing.push(listener) }
  } satisfies Propagation)
}

export default fp(propagation, { name: 'propagation', fastify: '5.x', dependencies: ['metrics'] })
