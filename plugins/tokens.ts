import fp from 'fastify-plugin'
import fastifyJwt, { type JWT } from '@fastify/jwt'
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { errors } from '../src/errors'
import { headerValue } from '../src/lib/header-value'
import { MAX_TOKEN_LENGTH, VerifiedTokens } from '../src/lib/verified-tokens'
import { hasAccessClaimShapes, issuedPlausibly, REQUIRED_CLAIMS, type AccessClaims } from '../src/lib/access-claims'
import type { KeyRing, PublicJwk } from './keys'
import './config'
import './keys'
import './metrics'

export type { AccessClaims } from '../src/lib/access-claims'

/** What a verified access token says about its bearer; one object per token, cached. */
export interface AuthContext {
  userId: string
  username: string
  roles: string[]
  sessionId: string
  tokenId: string
  /** seconds since the epoch */
  issuedAt: number
  /** milliseconds since the epoch */
  expiresAt: number
  /** `roles`, each one percent-encoded, joined with commas: ready for the forward-auth header. */
  rolesHeader: string
}

export interface TokenSubject {
  id: string
  username: string
  roles: string[]
}

export type { PublicJwk } from './keys'

export interface Tokens {
  /** The key id that signs new tokens. */
  readonly kid: string
  /** The JWKS document (RFC 7517): every public key that may verify a live token. */
  readonly jwks: { keys: PublicJwk[] }
  /**
   * Signs an access token for `subject`'s session, valid ACCESS_TOKEN_TTL, or `maxLifetime`
   * seconds (what is left of the session) when that is shorter; at least one second.
   */
  issueAccessToken(subject: TokenSubject, sessionId: string, maxLifetime?: number): { token: string, expiresIn: number, tokenId: string }
  /**
   * Verifies signature, algorithm, `typ`, `crit`, `iss`, `aud`, `exp`, `nbf`, `iat` (not ahead of the
   * clock by more than CLOCK_TOLERANCE), the lifetime (`exp - iat` at most ACCESS_TOKEN_TTL plus that
   * tolerance) and claim shapes, and returns the
   * bearer's context. Throws InvalidToken or TokenExpired. A token verified once is kept in a
   * bounded in-memory map (keyed by the whole token, checked against `exp` on every hit).
   */
  verifyAccessToken(token: string): AuthContext
}

declare module 'fastify' {
  interface FastifyInstance {
    tokens: Tokens
  }
}


function toContext (claims: AccessClaims): AuthContext {
  if (!hasAccessClaimShapes(claims)) throw new errors.InvalidToken()
  const { sub, sid, jti, roles, exp, iat, preferred_username: username } = claims
  return { userId: sub, username, roles, sessionId: sid, tokenId: jti, issuedAt: iat, expiresAt: exp * 1000, rolesHeader: roles.map(headerValue).join(',') }
}

/** The `kid` in a token's header (undefined when it has none); throws InvalidToken when the header is not JSON. */
function headerKid (token: string): string | undefined {
  const dot = token.indexOf('.')
  let header: unknown
  try {
    header = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8'))
  } catch {
    throw new errors.InvalidToken()
  }
  if (dot <= 0 || typeof header !== 'object' || header === null) throw new errors.InvalidToken()
  const kid = (header as { kid?: unknown }).kid
  if (kid !== undefined && typeof kid !== 'string') throw new errors.InvalidToken()
  return kid
}

type Verify = (token: string) => AccessClaims

/** Issues and verifies access tokens with the keys of the keys plugin (rotated keys verify until they retire). */
async function tokens (fastify: FastifyInstance): Promise<void> {
  const { jwt: options, tokenCacheSize } = fastify.config
  const { keys } = fastify
  const algorithm = options.algorithm
  const verifyOptions = {
    algorithms: [algorithm],
    allowedIss: options.issuer,
    allowedAud: options.audience,
    checkTyp: 'at+jwt',
    requiredClaims: REQUIRED_CLAIMS,
    cache: false
  }

  // @fastify/jwt stays inside this plugin: it is registered in a child context that nothing else
  // sees, with the key ring's signing key as its default; every call names the key it uses, so a
  // rotation changes keys without registering anything again.
  const initial = keys.ring()
  const initialPublic = initial.verifying.find((k) => k.kid === initial.signing.kid)?.key ?? initial.signing.key
  let jwt: JWT | undefined
  await fastify.register(async function jwtScope (scope) {
    await scope.register(fastifyJwt, {
      secret: algorithm === 'HS256' ? initial.signing.key : { private: initial.signing.key, public: initialPublic },
      sign: {
        algorithm,
        kid: initial.signing.kid,
        header: { alg: algorithm, typ: 'at+jwt' },
        iss: options.issuer,
        aud: options.audience.length === 1 ? options.audience[0] : options.audience,
        expiresIn: options.accessTokenTtl // seconds: @fastify/jwt converts numbers to milliseconds
      },
      verify: verifyOptions
    })
    jwt = scope.jwt
  })
  const signer = jwt as JWT

  let signingKid = ''
  let sign: (payload: Record<string, unknown>, expiresIn: number) => string = () => { throw new Error('no signing key') }
  let signingVerifier: { verify: Verify, retireAt: number | null } | undefined
  let verifiers = new Map<string, { verify: Verify, retireAt: number | null }>()
  let retired: ReadonlySet<string> = new Set()

  /** Signer and verifiers for a key ring; replaced whole when the keys change. */
  function useKeys (ring: KeyRing): void {
    const { key, kid } = ring.signing
    // expiresIn in seconds: @fastify/jwt converts numbers to milliseconds
    sign = (payload, expiresIn) => signer.sign(payload, { key, kid, expiresIn })
    verifiers = new Map(ring.verifying.map((k) => [k.kid, { verify: (token: string) => signer.verify<AccessClaims>(token, { key: k.key }), retireAt: k.retireAt }]))
    signingKid = ring.signing.kid
    signingVerifier = verifiers.get(signingKid)
    retired = ring.retired
  }
  useKeys(keys.ring())
  keys.onChange(useKeys)

  /** The verifier of the key a token names; InvalidToken (and a rate-limited reload for a kid never seen) otherwise. */
  function verifierFor (token: string): Verify {
    const kid = headerKid(token)
    const verifier = kid === undefined ? signingVerifier : verifiers.get(kid)
    if (verifier === undefined) {
      if (kid !== undefined && !retired.has(kid)) keys.requestReload()
      throw new errors.InvalidToken()
    }
    if (verifier.retireAt !== null && verifier.retireAt <= Date.now()) {
      keys.ring() // moves the retired key out of the ring
      throw new errors.InvalidToken()
    }
    return verifier.verify
  }

  const tolerance = options.clockTolerance
  const longestLifetime = options.accessTokenTtl + tolerance

  /**
   * The signature, `exp` and `nbf` are checked by the verifier; a correctly signed token must
   * also have been issued in the past (up to the clock tolerance between instances) for no
   * longer than Warden issues tokens for: anything else was not minted by this configuration.
   */
  function checkTimes (claims: AccessClaims): void {
    if (!issuedPlausibly(claims, Date.now() / 1000, tolerance, longestLifetime)) throw new errors.InvalidToken()
  }

  const verified = new VerifiedTokens<AuthContext>(tokenCacheSize)
  let hits = 0
  let misses = 0
  fastify.metrics.total('token_cache_hits_total', 'Access-token checks answered from the verified-token cache', () => hits)
  fastify.metrics.total('token_cache_misses_total', 'Access-token checks that verified the signature (not in the cache, or TOKEN_CACHE_SIZE=0)', () => misses)
  fastify.metrics.level('token_cache_entries', 'Verified tokens in the cache now', () => verified.size)

  function verifyAccessToken (token: string): AuthContext {
    const hit = verified.get(token)
    if (hit !== undefined) {
      hits++
      if (hit.expiresAt > Date.now()) return hit.value
      verified.delete(token)
      throw new errors.TokenExpired()
    }
    misses++
    if (token.length > MAX_TOKEN_LENGTH) throw new errors.InvalidToken()
    const verify = verifierFor(token)
    let claims: AccessClaims
    try {
      claims = verify(token)
    } catch (err) {
      throw (err as { code?: string }).code === 'FAST_JWT_EXPIRED' ? new errors.TokenExpired() : new errors.InvalidToken()
    }
    checkTimes(claims)
    const context = toContext(claims)
    verified.set(token, context, context.expiresAt)
    return context
  }

  fastify.decorate('tokens', {
    get kid () { return signingKid },
    get jwks () { return keys.ring().jwks },
    issueAccessToken (subject: TokenSubject, sessionId: string, maxLifetime?: number) {
      const tokenId = randomUUID()
      const expiresIn = maxLifetime === undefined
        ? options.accessTokenTtl
        : Math.max(1, Math.min(options.accessTokenTtl, Math.floor(maxLifetime)))
      const token = sign({ sub: subject.id, sid: sessionId, jti: tokenId, roles: subject.roles, preferred_username: subject.username }, expiresIn)
      return { token, expiresIn, tokenId }
    },
    verifyAccessToken
  } satisfies Tokens)
}

export default fp(tokens, { name: 'tokens', fastify: '5.x', dependencies: ['config', 'keys', 'metrics'] })
