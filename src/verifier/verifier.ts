import { createRemoteJWKSet, jwtVerify, errors as joseErrors } from 'jose'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { errors } from '../errors'
import { hasAccessClaimShapes, issuedPlausibly, REQUIRED_CLAIMS, type AccessClaims } from '../lib/access-claims'
import { Revocations, type FeedEntry } from '../lib/revocations'
import { MAX_TOKEN_LENGTH, VerifiedTokens } from '../lib/verified-tokens'
import { basicHeader } from '../lib/basic-auth'

/** The codes a verification fails with: Warden's own, so a relying service answers as Warden does. */
export type VerifierErrorCode = 'missing_token' | 'invalid_token' | 'token_expired' | 'token_revoked' | 'account_locked' | 'unavailable'

const CATALOGUE = {
  missing_token: errors.MissingToken,
  invalid_token: errors.InvalidToken,
  token_expired: errors.TokenExpired,
  token_revoked: errors.TokenRevoked,
  account_locked: errors.AccountLocked,
  unavailable: errors.Unavailable
} as const

/** Why a token was refused: `code` is a contract code, `statusCode` the HTTP status Warden answers it with. */
export class VerifierError extends Error {
  readonly code: VerifierErrorCode
  readonly statusCode: number
  constructor (code: VerifierErrorCode) {
    const { message, statusCode } = new CATALOGUE[code]()
    super(message)
    this.name = 'VerifierError'
    this.code = code
    this.statusCode = statusCode ?? 401
  }
}

export interface VerifierLogger {
  info(message: string): void
  warn(message: string): void
}

export interface VerifierOptions {
  /** Warden's `JWT_ISSUER`: the `iss` of its tokens and, unless told otherwise, where it answers. */
  issuer: string
  /** The `aud` this service accepts (one of Warden's `JWT_AUDIENCE`). */
  audience: string | string[]
  /** Default: `<issuer>/.well-known/jwks.json`. */
  jwksUri?: string
  /** Signature algorithms accepted (never `none` or a shared secret). Default: RS256, ES256, EdDSA. */
  algorithms?: string[]
  /** Seconds of clock difference allowed with Warden (default 30, as Warden's CLOCK_TOLERANCE). */
  clockTolerance?: number
  /**
   * Longest lifetime (`exp - iat`, seconds) of a token Warden issues; longer ones are refused.
   * Default: what the feed says (Warden's ACCESS_TOKEN_TTL); without a feed, not checked.
   */
  maxTokenLifetime?: number
  /** How many verified tokens are kept in memory (default 10,000; 0: none). */
  cacheSize?: number
  /**
   * The revocation feed (a Warden service client: `warden client create NAME`). Without it,
   * a logged-out or locked user's token is accepted until it expires.
   */
  feed?: { url?: string, clientId: string, clientSecret: string }
  /** Seconds without the feed after which `onStale` applies (default 30). */
  staleAfter?: number
  /**
   * When the feed has been unreachable for longer than `staleAfter`: `verify` (default) keeps
   * verifying with what it last knew and logs a warning; `fail` refuses every token with
   * `unavailable` until the feed is back.
   */
  onStale?: 'verify' | 'fail'
  /** Seconds `ready()` waits for the JWKS and the feed's first snapshot (default 30). */
  readyTimeout?: number
  /** Longest wait between two reconnections to the feed, in seconds (default 30). */
  maxBackoff?: number
  logger?: VerifierLogger
}

export interface VerifierStatus {
  /** Whether the feed's stream is open and its opening was received. */
  connected: boolean
  /** The id of the last change received (sent as Last-Event-ID on reconnection). */
  lastEventId: string | undefined
  /** Entries held: locked accounts, revoked and admitted sessions. */
  entries: number
  /** Since when (ms) the feed has been out of reach; null while it is followed. */
  disconnectedSince: number | null
}

export interface Verifier {
  /** Resolves once the keys are loaded and (with a feed) the first snapshot is in. */
  ready(): Promise<void>
  /** The claims of a token that must be accepted now; rejects with a VerifierError otherwise. */
  verify(token: string): Promise<AccessClaims>
  /**
   * The answer from memory when there is one (a token verified before): its claims or the
   * error; undefined when the signature must be checked (then call `verify`).
   */
  check(token: string): AccessClaims | VerifierError | undefined
  status(): VerifierStatus
  close(): Promise<void>
}

const DEFAULT_ALGORITHMS = ['RS256', 'ES256', 'EdDSA']
/** Silence on an open stream for this long means it is dead (Warden sends a heartbeat every 15 s). */
const SILENCE_MS = 40_000
const SWEEP_MS = 60_000
const noLog: VerifierLogger = { info () {}, warn () {} }

/**
 * Verifies Warden's access tokens inside a relying service: signature from the JWKS (cached,
 * reloaded for an unknown `kid` and on a key rotation), algorithm, issuer, audience, `typ` and
 * times pinned as Warden pins them, and the revocations, logouts and locks that Warden's
 * revocation feed streams, all answered from memory.
 */
export function createVerifier (options: VerifierOptions): Verifier {
  const issuer = options.issuer.replace(/\/+$/, '')
  const log = options.logger ?? noLog
  const tolerance = options.clockTolerance ?? 30
  const cacheSize = options.cacheSize ?? 10_000
  const staleAfterMs = (options.staleAfter ?? 30) * 1000
  const failWhenStale = options.onStale === 'fail'
  const maxBackoffMs = (options.maxBackoff ?? 30) * 1000
  let maxLifetime = options.maxTokenLifetime
  const jwks = createRemoteJWKSet(new URL(options.jwksUri ?? `${issuer}/.well-known/jwks.json`), {
    // Keys leave Warden's JWKS only once every token they signed has expired, and a new one is
    // announced on the feed: the set is reloaded then, or for a kid never seen, not on a timer
    // that would fail every verification while Warden is out of reach.
    cacheMaxAge: Number.POSITIVE_INFINITY,
    cooldownDuration: 5000,
    timeoutDuration: 5000
  })
  const verifyOptions = {
    issuer,
    audience: options.audience,
    algorithms: options.algorithms ?? DEFAULT_ALGORITHMS,
    typ: 'at+jwt',
    requiredClaims: REQUIRED_CLAIMS,
    clockTolerance: tolerance
  }
  const state = new Revocations()
  const verified = new VerifiedTokens<AccessClaims>(cacheSize)

  let closed = false
  let connected = false
  let lastEventId: string | undefined
  let disconnectedSince: number | null = Date.now()
  let warnedStale = false
  let connection: AbortController | undefined

  const stale = (): boolean => options.feed !== undefined && disconnectedSince !== null && Date.now() - disconnectedSince > staleAfterMs

  /** The refusal of verified claims by the feed's state (or by a stale feed), if any. */
  function judge (claims: AccessClaims): AccessClaims | VerifierError {
    if (stale()) {
      if (!warnedStale) {
        warnedStale = true
        log.warn(`revocation feed out of reach for more than ${staleAfterMs / 1000} s: ${failWhenStale ? 'refusing every token' : 'verifying with what it last knew'}`)
      }
      if (failWhenStale) return new VerifierError('unavailable')
    }
    const refusal = state.refusal(claims.sub, claims.sid)
    return refusal === null ? claims : new VerifierError(refusal)
  }

  function check (token: string): AccessClaims | VerifierError | undefined {
    if (token === '') return new VerifierError('missing_token')
    const hit = verified.get(token)
    if (hit === undefined) return undefined
    if (hit.expiresAt <= Date.now()) {
      verified.delete(token)
      return new VerifierError('token_expired')
    }
    return judge(hit.value)
  }

  async function verifySignature (token: string): Promise<AccessClaims> {
    if (token.length > MAX_TOKEN_LENGTH) throw new VerifierError('invalid_token')
    let payload: Record<string, unknown>
    try {
      ({ payload } = await jwtVerify(token, jwks, verifyOptions))
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw new VerifierError('token_expired')
      // Keys that cannot be fetched (Warden out of reach, a kid never seen) are no verdict on the token.
      if (!(err instanceof joseErrors.JOSEError) || err instanceof joseErrors.JWKSTimeout) throw new VerifierError('unavailable')
      throw new VerifierError('invalid_token')
    }
    const lifetime = maxLifetime === undefined ? undefined : maxLifetime + tolerance
    if (!hasAccessClaimShapes(payload) || !issuedPlausibly(payload, Date.now() / 1000, tolerance, lifetime)) {
      throw new VerifierError('invalid_token')
    }
    return payload
  }

  async function verify (token: string): Promise<AccessClaims> {
    const known = check(token)
    if (known instanceof VerifierError) throw known
    if (known !== undefined) return known
    const claims = await verifySignature(token)
    verified.set(token, claims, claims.exp * 1000)
    const verdict = judge(claims)
    if (verdict instanceof VerifierError) throw verdict
    return verdict
  }

  // --- the revocation feed -------------------------------------------------------------------

  let snapshotReceived: () => void = () => {}
  const firstSnapshot = new Promise<void>((resolve) => { snapshotReceived = resolve })

  function apply (entry: FeedEntry): void {
    if (entry.kind === 'key_rotated') {
      jwks.reload().catch((err: Error) => { log.warn(`JWKS reload after a key rotation failed: ${err.message}`) })
      return
    }
    state.apply({ kind: entry.kind, userId: entry.user_id, sessionId: entry.session_id, reason: entry.reason, at: entry.at * 1000, until: entry.until * 1000 })
  }

  function opened (data: { access_token_ttl?: number }): void {
    if (options.maxTokenLifetime === undefined && typeof data.access_token_ttl === 'number') maxLifetime = data.access_token_ttl
    if (disconnectedSince !== null && lastEventId !== undefined) log.info('revocation feed followed again')
    connected = true
    disconnectedSince = null
    warnedStale = false
  }

  function onEvent (message: EventSourceMessage): void {
    const data = JSON.parse(message.data) as { entries?: FeedEntry[] } & FeedEntry & { access_token_ttl?: number }
    switch (message.event) {
      case 'snapshot':
        state.clear()
        for (const entry of data.entries ?? []) apply(entry)
        opened(data)
        snapshotReceived()
        break
      case 'resumed':
        opened(data)
        break
      case 'change':
        apply(data)
        break
    }
    if (message.id !== undefined) lastEventId = message.id
  }

  async function followOnce (feed: NonNullable<VerifierOptions['feed']>): Promise<void> {
    const controller = new AbortController()
    connection = controller
    let silence: NodeJS.Timeout | undefined
    const listen = (): void => {
      clearTimeout(silence)
      silence = setTimeout(() => { controller.abort() }, SILENCE_MS)
      silence.unref()
    }
    const headers: Record<string, string> = {
      accept: 'text/event-stream',
      authorization: basicHeader(feed.clientId, feed.clientSecret)
    }
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId
    try {
      listen()
      const res = await fetch(feed.url ?? `${issuer}/oauth/revocations`, { headers, signal: controller.signal })
      if (res.status !== 200 || res.body === null) {
        await res.body?.cancel()
        throw new Error(res.status === 401 ? 'the feed refused the client credentials (401)' : `the feed answered ${res.status}`)
      }
      const parser = createParser({ onEvent, onComment: listen })
      const decoder = new TextDecoder()
      for await (const chunk of res.body) {
        listen()
        parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }))
      }
    } finally {
      clearTimeout(silence)
      if (disconnectedSince === null) disconnectedSince = Date.now()
      connected = false
    }
  }

  let following: Promise<void> = Promise.resolve()
  let stopWaiting: () => void = () => {}
  if (options.feed !== undefined) {
    const feed = options.feed
    following = (async () => {
      let attempt = 0
      while (!closed) {
        const started = Date.now()
        try {
          await followOnce(feed)
          if (!closed) log.warn('revocation feed closed by the server; reconnecting')
        } catch (err) {
          if (closed) break
          log.warn(`revocation feed: ${(err as Error).message}; reconnecting`)
        }
        // a stream that lasted is a fresh start for the backoff
        attempt = Date.now() - started > 10_000 ? 0 : attempt + 1
        const delay = Math.min(maxBackoffMs, 250 * 2 ** Math.min(attempt, 10)) * (0.5 + Math.random() / 2)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay)
          timer.unref()
          stopWaiting = () => { clearTimeout(timer); resolve() }
        })
      }
    })()
  }

  const sweeper = setInterval(() => { state.sweep(Date.now()) }, SWEEP_MS)
  sweeper.unref()

  /** Loads the JWKS, retrying while Warden does not answer, until `deadline` (ms). */
  async function loadKeys (deadline: number): Promise<void> {
    for (;;) {
      try {
        await jwks.reload()
        return
      } catch (err) {
        if (closed || Date.now() > deadline) throw err
        await new Promise((resolve) => { setTimeout(resolve, 250).unref() })
      }
    }
  }

  async function ready (): Promise<void> {
    const timeoutMs = (options.readyTimeout ?? 30) * 1000
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((resolve, reject) => {
      timer = setTimeout(() => { reject(new Error(`Warden did not answer within ${timeoutMs / 1000} s (JWKS${options.feed === undefined ? '' : ' and revocation feed'})`)) }, timeoutMs)
    })
    try {
      await Promise.race([Promise.all([loadKeys(Date.now() + timeoutMs), options.feed === undefined ? undefined : firstSnapshot]), timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  return {
    ready,
    verify,
    check,
    status: () => ({ connected, lastEventId, entries: state.size, disconnectedSince }),
    async close () {
      closed = true
      clearInterval(sweeper)
      connection?.abort()
      stopWaiting()
      await following
    }
  }
}
