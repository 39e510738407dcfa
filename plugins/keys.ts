import fp from 'fastify-plugin'
import { createHash, type JsonWebKey } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { FastifyInstance } from 'fastify'
import { errors } from '../src/errors'
import { generateSigningKey, publicPemFromJwk, type AsymmetricAlgorithm } from '../src/lib/jwk'
import { planKeys, retirementTime, rotationTime, type KeyState, type KeyTimes } from '../src/lib/key-lifecycle'
import type { SigningKeyRecord } from './stores/signing-keys'
import type { StateChange } from './stores/state-changes'
import './config'
import './propagation'
import './stores/signing-keys'
import './stores/state-changes'

export interface PublicJwk extends JsonWebKey {
  kty: string
  kid: string
  alg: string
  use: 'sig'
}

/** A key that verifies: a public PEM (or the HS256 secret), and when it stops verifying. */
export interface VerifyingKey {
  kid: string
  key: string
  /** ms since the epoch; null for the signing key */
  retireAt: number | null
}

/** What this instance signs and verifies with now. Replaced as a whole on every change. */
export interface KeyRing {
  /** The key that signs new tokens: its private PEM (or the HS256 secret). */
  signing: { kid: string, key: string }
  /** The signing key first, then the retiring keys. */
  verifying: VerifyingKey[]
  /** Kids of retired keys: a token naming one is refused without asking the database. */
  retired: ReadonlySet<string>
  /** The JWKS document (RFC 7517): every public key that may verify a live token. */
  jwks: { keys: PublicJwk[] }
  /** A strong HTTP validator of `jwks`. */
  etag: string
}

/** A key as `warden keys list` shows it. */
export interface KeyInfo {
  kid: string
  alg: string
  generation: number
  state: KeyState
  created_at: string
  /** When a retiring key leaves (left) the JWKS. */
  retire_at: string | null
  encrypted: boolean
}

export interface RotationResult {
  kid: string
  previous_kid: string | null
  /** When the previous key leaves the JWKS. */
  previous_retire_at: string | null
}

export interface Keys {
  /** False with HS256: the key is JWT_SECRET. */
  readonly rotatable: boolean
  /** The key ring in force, from memory; keys whose time is up leave it as time passes. */
  ring(): KeyRing
  /** Called with the new ring whenever it changes (rotation, reload, retirement). */
  onChange(listener: (ring: KeyRing) => void): void
  /** Every stored key of the configured algorithm, newest first, with its state now. */
  list(): Promise<KeyInfo[]>
  /**
   * Makes a new key the signing key; the previous one verifies until every token it signed
   * has expired. Journals a `key_rotated` change and publishes it, so that every instance
   * reloads its keys. Throws KeyRotationUnsupported with HS256.
   */
  rotate(): Promise<RotationResult>
  /** Rotates when the signing key is older than KEY_ROTATION_INTERVAL; null when not due (or another instance did it). */
  rotateIfDue(): Promise<RotationResult | null>
  /** Reads the keys from the database again. */
  reload(): Promise<void>
  /** A token named a key this instance does not know: reload, at most once per RELOAD_MIN_INTERVAL_MS. */
  requestReload(): void
}

declare module 'fastify' {
  interface FastifyInstance {
    keys: Keys
  }
}

/** At most one reload per this many ms on behalf of tokens with an unknown `kid`. */
export const RELOAD_MIN_INTERVAL_MS = 5_000
/**
 * Every instance also rereads the keys this often, whatever the transports deliver: an instance
 * that missed a rotation stops signing with the replaced key well within the retirement margin.
 */
export const RELOAD_EVERY_MS = 60_000
/** setTimeout's longest delay. */
const MAX_TIMER_MS = 2 ** 31 - 1
/** Retry delay of an automatic rotation that failed (database unavailable...). */
const ROTATION_RETRY_MS = 60_000

function etagOf (jwks: { keys: PublicJwk[] }): string {
  return '"' + createHash('sha256').update(JSON.stringify(jwks)).digest('base64url').slice(0, 32) + '"'
}

function times (record: SigningKeyRecord): KeyTimes & { record: SigningKeyRecord } {
  return {
    kid: record.kid,
    generation: record.generation,
    state: record.state,
    createdAt: record.createdAt.getTime(),
    retireAt: record.retireAt?.getTime() ?? null,
    record
  }
}

/** HS256: the key is the configured secret; nothing is published and nothing rotates. */
function symmetricRing (secret: string): KeyRing {
  const kid = 'hs256-' + createHash('sha256').update(secret).digest('base64url').slice(0, 16)
  const jwks = { keys: [] }
  return { signing: { kid, key: secret }, verifying: [{ kid, key: secret, retireAt: null }], retired: new Set(), jwks, etag: etagOf(jwks) }
}

/** Signing keys: which one signs, which verify, rotation (manual and timed) and its propagation. */
async function keys (fastify: FastifyInstance): Promise<void> {
  const { config, propagation, stateChanges, log } = fastify
  const store = fastify.signingKeys
  const algorithm = config.jwt.algorithm
  const listeners: Array<(ring: KeyRing) => void> = []

  if (algorithm === 'HS256') {
    const ring = symmetricRing(config.jwt.secret as string)
    fastify.decorate('keys', {
      rotatable: false,
      ring: () => ring,
      onChange () {},
      async list () { return [] },
      async rotate (): Promise<RotationResult> { throw new errors.KeyRotationUnsupported() },
      async rotateIfDue () { return null },
      async reload () {},
      requestReload () {}
    } satisfies Keys)
    return
  }

  const alg: AsymmetricAlgorithm = algorithm
  const accessTtlMs = config.jwt.accessTokenTtl * 1000
  const intervalMs = config.signingKeys.rotationInterval === undefined ? undefined : config.signingKeys.rotationInterval * 1000
  /** Private PEMs of signing keys, by kid (only the current one is kept). */
  const privatePems = new Map<string, string>()
  const publicPems = new Map<string, string>()
  let records: SigningKeyRecord[] = []
  let current: KeyRing
  let signingCreatedAt = 0
  let nextChangeAt = Infinity
  let retirementTimer: NodeJS.Timeout | undefined
  let rotationTimer: NodeJS.Timeout | undefined
  let closed = false
  /** An automatic rotation under way (awaited on close). */
  let rotating: Promise<void> = Promise.resolve()

  /** Builds the ring from the records in memory, as it stands at `now`. */
  function build (now: number): KeyRing {
    const plan = planKeys(records.map(times), now, accessTtlMs)
    const signing = plan.signing
    if (signing === undefined) throw new Error(`no active ${alg} signing key`)
    const pem = privatePems.get(signing.kid)
    if (pem === undefined) throw new Error(`the private part of signing key ${signing.kid} is not loaded`)
    if (plan.due.length > 0) {
      // recorded once, by whichever instance notices first (the update is conditional)
      const due = new Set(plan.due.map((k) => k.kid))
      records = records.map((r) => due.has(r.kid) ? { ...r, state: 'retired' as const } : r)
      store.markRetired([...due], new Date(now))
        .catch((err: Error) => log.warn({ err }, 'could not record retired signing keys'))
    }
    const verifying = plan.verifying.map(({ key, retireAt }) => {
      let publicPem = publicPems.get(key.kid)
      if (publicPem === undefined) {
        publicPem = publicPemFromJwk(key.record.publicJwk)
        publicPems.set(key.kid, publicPem)
      }
      return { kid: key.kid, key: publicPem, retireAt, jwk: key.record.publicJwk }
    })
    const jwks = {
      keys: verifying.map((k) => ({ ...(k.jwk as JsonWebKey & { kty: string }), kid: k.kid, alg, use: 'sig' as const }))
    }
    const retired = new Set(plan.states.filter((s) => s.state === 'retired').map((s) => s.key.kid))
    signingCreatedAt = signing.createdAt
    nextChangeAt = plan.nextChangeAt
    return {
      signing: { kid: signing.kid, key: pem },
      verifying: verifying.map(({ kid, key, retireAt }) => ({ kid, key, retireAt })),
      retired,
      jwks,
      etag: etagOf(jwks)
    }
  }

  function install (ring: KeyRing): void {
    current = ring
    for (const listener of listeners) listener(ring)
    scheduleRetirement()
    scheduleRotation()
  }

  /** Wakes up when the next retiring key's time is up, so that it leaves the JWKS then. */
  function scheduleRetirement (): void {
    clearTimeout(retirementTimer)
    if (closed || nextChangeAt === Infinity) return
    retirementTimer = setTimeout(() => { ring() }, Math.min(Math.max(nextChangeAt - Date.now(), 0) + 10, MAX_TIMER_MS)).unref()
  }

  function scheduleRotation (delay?: number): void {
    clearTimeout(rotationTimer)
    if (closed || intervalMs === undefined) return
    const wait = delay ?? Math.max(rotationTime(signingCreatedAt, intervalMs) - Date.now(), 0)
    rotationTimer = setTimeout(() => {
      rotating = rotateIfDue().then(() => {}, (err: Error) => {
        if (closed) return
        log.error({ err }, 'automatic key rotation failed; retrying in a minute')
        scheduleRotation(ROTATION_RETRY_MS)
      })
    }, Math.min(wait, MAX_TIMER_MS)).unref()
  }

  function ring (): KeyRing {
    if (Date.now() >= nextChangeAt) install(build(Date.now()))
    return current
  }

  /** Reads the keys; makes the first one when there is none (concurrent starts agree on one). */
  async function load (): Promise<void> {
    let list = await store.list(alg)
    let signing = planKeys(list.map(times), Date.now(), accessTtlMs).signing
    if (signing === undefined) {
      // first start, or every key retired: one instance's insert of the next generation wins
      await insertKey((list[0]?.generation ?? 0) + 1)
      list = await store.list(alg)
      signing = planKeys(list.map(times), Date.now(), accessTtlMs).signing
      if (signing === undefined) throw new Error(`no active ${alg} signing key after creating one`)
    }
    let pem = privatePems.get(signing.kid)
    if (pem === undefined) {
      const stored = await store.get(signing.kid)
      if (stored?.privatePem == null) throw new Error(`signing key ${signing.kid} has no private key`)
      pem = stored.privatePem
    }
    // only the signing key's private part stays in memory
    privatePems.clear()
    privatePems.set(signing.kid, pem)
    records = list
    install(build(Date.now()))
  }

  /** Reloads one after another: a reload asked for while one runs starts after it. */
  let loading: Promise<void> = Promise.resolve()
  function reload (): Promise<void> {
    loading = loading.catch(() => {}).then(load)
    return loading
  }

  async function insertKey (generation: number): Promise<string | null> {
    const generated = await generateSigningKey(alg)
    const inserted = await store.insert({ kid: generated.kid, alg, generation, publicJwk: generated.publicJwk, privatePem: generated.privatePem })
    if (!inserted) return null
    privatePems.set(generated.kid, generated.privatePem)
    return generated.kid
  }

  /**
   * Stores generation n+1 as the new signing key (the unique index lets one instance win when
   * several rotate at once), demotes the older active keys, journals and publishes the change.
   * `when` (automatic rotation): only while the signing key is still due.
   */
  async function rotateOnce (when?: number): Promise<RotationResult | null> {
    const list = await store.list(alg)
    const previous = planKeys(list.map(times), Date.now(), accessTtlMs).signing
    if (when !== undefined && intervalMs !== undefined && previous !== undefined && rotationTime(previous.createdAt, intervalMs) > when) {
      await reload()
      return null
    }
    const generation = (list[0]?.generation ?? 0) + 1
    const kid = await insertKey(generation)
    if (kid === null) {
      // another instance stored this generation first: its rotation stands
      await reload()
      return null
    }
    const at = Date.now()
    const retireAt = retirementTime(at, accessTtlMs)
    await store.retireBelow(alg, generation, new Date(retireAt))
    const change = await stateChanges.append({ kind: 'key_rotated', kid, at, until: retireAt })
    await reload()
    propagation.publish(change)
    log.info({ kid, previousKid: previous?.kid }, 'signing key rotated')
    return { kid, previous_kid: previous?.kid ?? null, previous_retire_at: previous === undefined ? null : new Date(retireAt).toISOString() }
  }

  async function rotateIfDue (): Promise<RotationResult | null> {
    if (intervalMs === undefined) return null
    return await rotateOnce(Date.now())
  }

  let lastRequest = -Infinity
  function requestReload (): void {
    const now = performance.now()
    if (now - lastRequest < RELOAD_MIN_INTERVAL_MS) return
    lastRequest = now
    log.info('a token names an unknown signing key: reloading the keys')
    reload().catch((err: Error) => log.warn({ err }, 'reloading the signing keys failed'))
  }

  const sealed = await store.sealPlaintext()
  if (sealed > 0) log.info({ keys: sealed }, 'encrypted signing keys stored in plaintext with KEY_ENCRYPTION_SECRET')
  await load()

  const periodic = setInterval(() => {
    reload().catch((err: Error) => log.warn({ err }, 'reloading the signing keys failed'))
  }, RELOAD_EVERY_MS).unref()
  propagation.onRemote((change: StateChange) => {
    if (change.kind !== 'key_rotated') return
    reload().catch((err: Error) => log.warn({ err }, 'reloading the signing keys after a rotation failed'))
  })
  fastify.addHook('onClose', async () => {
    closed = true
    clearInterval(periodic)
    clearTimeout(retirementTimer)
    clearTimeout(rotationTimer)
    await rotating
    await loading.catch(() => {})
  })

  fastify.decorate('keys', {
    rotatable: true,
    ring,
    onChange (listener: (ring: KeyRing) => void) { listeners.push(listener) },
    async list () {
      const plan = planKeys((await store.list(alg)).map(times), Date.now(), accessTtlMs)
      return plan.states
        .sort((a, b) => b.key.generation - a.key.generation)
        .map(({ key, state, retireAt }) => ({
          kid: key.kid,
          alg,
          generation: key.generation,
          state,
          created_at: key.record.createdAt.toISOString(),
          retire_at: retireAt === null ? null : new Date(retireAt).toISOString(),
          encrypted: key.record.encrypted
        }))
    },
    async rotate () {
      const result = await rotateOnce()
      if (result !== null) return result
      // lost a race with a rotation made at the same moment elsewhere: that one stands
      return { kid: current.signing.kid, previous_kid: null, previous_retire_at: null }
    },
    rotateIfDue,
    reload,
    requestReload
  } satisfies Keys)
}

export default fp(keys, {
  name: 'keys',
  fastify: '5.x',
  dependencies: ['config', 'propagation', 'signing-keys-store', 'state-changes-store']
})
