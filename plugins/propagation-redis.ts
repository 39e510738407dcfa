import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { STATE_CHANGE_KINDS } from '../src/models/state-change'
import type { StateChange } from './stores/state-changes'
import './db'
import './propagation'
import './redis'

/** How long a start waits for the subscription before going on (the poll covers the rest). */
const SUBSCRIBE_WAIT_MS = 2000

const KINDS = new Set<string>(STATE_CHANGE_KINDS)

/** A change as published by another instance, or null for anything else on the channel. */
export function parseChange (message: string): StateChange | null {
  let value: Record<string, unknown>
  try {
    value = JSON.parse(message) as Record<string, unknown>
  } catch {
    return null
  }
  if (value === null || typeof value !== 'object') return null
  const { id, kind, userId, sessionId, kid, at, until } = value
  if (typeof id !== 'string' || typeof kind !== 'string' || !KINDS.has(kind)) return null
  if (typeof at !== 'number' || !Number.isFinite(at) || typeof until !== 'number' || !Number.isFinite(until)) return null
  const change: StateChange = { id, kind: kind as StateChange['kind'], at, until }
  for (const [key, v] of [['userId', userId], ['sessionId', sessionId], ['kid', kid]] as const) {
    if (v === undefined) continue
    if (typeof v !== 'string') return null
    change[key] = v
  }
  return change
}

/**
 * With REDIS_URL: every change this instance makes is published on a Redis channel named after
 * the database (instances of another deployment sharing the Redis server are not affected),
 * and what other instances publish is handed to `propagation.receive` as it arrives. A message
 * lost while Redis is unreachable still arrives through the poll of the state-change feed.
 */
async function propagationRedis (fastify: FastifyInstance): Promise<void> {
  const { redis, propagation, log } = fastify
  if (redis === null) return
  const channel = `warden:state-changes:${fastify.db.connection.name}`

  // A connection in subscriber mode serves nothing else. Its commands wait for the connection
  // (offline queue), and it subscribes again by itself after a reconnection.
  const subscriber = redis.duplicate({ enableOfflineQueue: true, autoResubscribe: true })
  subscriber.on('error', () => { /* reported by the shared connection's handler */ })
  subscriber.on('message', (from: string, message: string) => {
    if (from !== channel) return
    const change = parseChange(message)
    if (change === null) {
      log.warn({ channel }, 'ignored a malformed state-change message')
      return
    }
    propagation.receive(change, 'redis')
  })
  fastify.addHook('onClose', async () => { subscriber.disconnect() })

  let timer: NodeJS.Timeout | undefined
  const subscribed = subscriber.subscribe(channel).then(() => true, () => false)
  const waited = new Promise<boolean>((resolve) => { timer = setTimeout(resolve, SUBSCRIBE_WAIT_MS, false) })
  if (!await Promise.race([subscribed, waited])) log.warn({ channel }, 'not subscribed to Redis yet; changes from other instances arrive by the poll meanwhile')
  clearTimeout(timer)

  propagation.onPublish((change) => {
    redis.publish(channel, JSON.stringify(change)).catch((err: Error) => {
      log.debug({ err: { message: err.message } }, 'state change not published on Redis; the poll carries it')
    })
  })
}

export default fp(propagationRedis, {
  name: 'propagation-redis',
  fastify: '5.x',
  dependencies: ['db', 'propagation', 'redis']
})
