import fp from 'fastify-plugin'
import { PassThrough } from 'node:stream'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { errors } from '../src/errors'
import type { FeedEntry, RevocationChange } from '../src/lib/revocations'
import type { StateChange } from './stores/state-changes'
import { POLL_OVERLAP_MS } from './propagation-poll'
import './account-state'
import './config'
import './propagation'
import './stores/state-changes'

export type { FeedEntry } from '../src/lib/revocations'

export interface RevocationFeed {
  /**
   * Streams the feed (Server-Sent Events) on `reply`: a snapshot of what must be refused now,
   * or, given the id of the last change a client saw, the changes since; then every change as
   * it happens, with heartbeats. Ends when the client goes or the server closes.
   */
  serve(reply: FastifyReply, lastEventId: string | undefined): Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    revocationFeed: RevocationFeed
  }
}

/** A comment line this often keeps proxies from closing an idle stream and tells clients the feed is alive. */
export const HEARTBEAT_MS = 15_000
/** What EventSource clients wait before reconnecting. */
const RETRY_MS = 1000

const toSeconds = (ms: number, round: (x: number) => number): number => round(ms / 1000)

function entry (change: RevocationChange & { kid?: string }, until: number): FeedEntry {
  const out: FeedEntry = { kind: change.kind, at: toSeconds(change.at, Math.floor), until: toSeconds(until, Math.ceil) }
  if (change.userId !== undefined) out.user_id = change.userId
  if (change.sessionId !== undefined) out.session_id = change.sessionId
  if (change.kid !== undefined) out.kid = change.kid
  if (change.reason !== undefined) out.reason = change.reason
  return out
}

function event (name: string, data: unknown, id?: string): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${name}\ndata: ${JSON.stringify(data)}\n\n`
}

/**
 * The revocation feed that relying services follow (GET /oauth/revocations), so that their
 * own token checks refuse what Warden refuses, without a call per request. Entries are
 * bounded by construction: each says until when it matters, and none matters longer than
 * an access token lives (a lock only as long as the tokens issued before it).
 */
async function revocationFeed (fastify: FastifyInstance): Promise<void> {
  const { accountState, propagation, stateChanges, config } = fastify
  const { accessTokenTtl, clockTolerance } = config.jwt
  const lifetimeMs = (accessTokenTtl + clockTolerance) * 1000
  const hello = { access_token_ttl: accessTokenTtl, clock_tolerance: clockTolerance }
  const streams = new Set<PassThrough>()

  /**
   * Until when a relying service must hold a change: a lock stops mattering to it once the
   * tokens issued before the lock have expired (a locked account gets no new ones, except
   * through an automatic lock from a known device, and those pass the lock anyway).
   */
  const cap = (change: RevocationChange): number => change.kind === 'lock' ? Math.min(change.until, change.at + lifetimeMs) : change.until

  function changeEvent (change: StateChange): string | undefined {
    const until = cap(change)
    if (until <= Date.now()) return undefined
    return event('change', entry(change, until), change.id)
  }

  /** The opening of a stream: the changes since `lastEventId` when the feed still has it, else a snapshot. */
  async function opening (lastEventId: string | undefined): Promise<string> {
    const missed = lastEventId === undefined ? null : await stateChanges.after(lastEventId, POLL_OVERLAP_MS)
    if (missed !== null) {
      return event('resumed', hello) + missed.map(changeEvent).filter((e) => e !== undefined).join('')
    }
    const now = Date.now()
    const entries = accountState.entries(now, cap).map((c) => entry(c, c.until))
    return event('snapshot', { ...hello, entries })
  }

  let closing = false
  fastify.addHook('preClose', async () => {
    // Open streams would keep the server from closing; a client reconnecting meanwhile is turned away.
    closing = true
    for (const stream of streams) stream.end()
  })

  fastify.decorate('revocationFeed', {
    async serve (reply: FastifyReply, lastEventId: string | undefined) {
      if (closing) throw new errors.Unavailable()
      const stream = new PassThrough()
      // Changes that happen while the opening is read are kept, then sent after it (applying
      // a change twice, in order, changes nothing).
      const pending: string[] = []
      let opened = false
      const follow = (change: StateChange): void => {
        const text = changeEvent(change)
        if (text === undefined || stream.writableEnded) return
        if (opened) stream.write(text)
        else pending.push(text)
      }
      const unsubscribe = propagation.onChange(follow)
      const heartbeat = setInterval(() => { stream.write(': heartbeat\n\n') }, HEARTBEAT_MS)
      heartbeat.unref()
      streams.add(stream)
      stream.once('close', () => {
        clearInterval(heartbeat)
        unsubscribe()
        streams.delete(stream)
      })
      let first: string
      try {
        first = await opening(lastEventId)
      } catch (err) {
        stream.destroy()
        throw err
      }
      stream.write(`retry: ${RETRY_MS}\n\n` + first + pending.join(''))
      opened = true
      reply
        .header('content-type', 'text/event-stream; charset=utf-8')
        .header('cache-control', 'no-store')
        .header('x-accel-buffering', 'no')
        .send(stream)
    }
  } satisfies RevocationFeed)
}

export default fp(revocationFeed, {
  name: 'revocation-feed',
  fastify: '5.x',
  dependencies: ['config', 'account-state', 'propagation', 'state-changes-store']
})
