import fp from 'fastify-plugin'
import fastifyJwt from '@fastify/jwt'
import { createHash, randomUUID, type JsonWebKey } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { errors } from '../src/errors'
import { headerValue } from '../src/lib/header-value'
import { generateSigningKey, publicPemFromJwk, type AsymmetricAlgorithm } from '../src/lib/jwk'
import type { Database } from './db'
import './config'

/** Claims of a Warden access token (RFC 9068 profile). */
export interface AccessClaims {
  iss: string
  aud: string | string[]
  sub: string
  iat: number
  exp: number
  jti: string
  sid: string
  roles: string[]
  preferred_username: string
}

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

export interface PublicJwk extends JsonWebKey {
  kty: string
  kid: string
  alg: string
  use: 'sig'
}

export interface Tokens {
  /** The key id that signs new tokens. */
  readonly kid: string
  /** The JWKS document (RFC 7517): every public key that may verify a live token. */
  readonly jwks: { keys: PublicJwk[] }
  issueAccessToken(subject: TokenSubject, sessionId: string): { token: string, expiresIn: number, tokenId: string }
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

const REQUIRED_CLAIMS = ['iss', 'aud', 'sub', 'iat', 'exp', 'jti', 'sid', 'roles']
const MAX_TOKEN_LENGTH = 8192
/** Characters of the signature that key the verification cache. */
const CACHE_KEY_LENGTH = 32

interface KeyMaterial {
  kid: string
  sign: string
  verify: string
  jwks: PublicJwk[]
}

/** The newest signing key of `alg`, created on first start. Concurrent starts agree on one. */
async function asymmetricKey (db: Database, alg: AsymmetricAlgorithm): Promise<KeyMaterial> {
  const keys = () => db.signingKeys.find({ alg }).sort({ generation: -1 }).lean()
  let all = await keys()
  if (all.length === 0) {
    const generated = await generateSigningKey(alg)
    try {
      await db.signingKeys.create({ _id: generated.kid, alg, generation: 1, public_jwk: generated.publicJwk, private_pem: generated.privatePem })
    } catch (err) {
      if ((err as { code?: number }).code !== 11000) throw err // another instance won the race
    }
    all = await keys()
    if (all.length === 0) throw new Error('signing key vanished after creation')
  }
  const key = all[0]
  const publicJwk = key.public_jwk as JsonWebKey
  return {
    kid: key._id,
    sign: key.private_pem,
    verify: publicPemFromJwk(publicJwk),
    jwks: all.map((k) => ({ ...(k.public_jwk as JsonWebKey & { kty: string }), kid: k._id, alg, use: 'sig' as const }))
  }
}

/** HS256: the key is the configured secret; nothing is published. */
function symmetricKey (secret: string): KeyMaterial {
  const kid = 'hs256-' + createHash('sha256').update(secret).digest('base64url').slice(0, 16)
  return { kid, sign: secret, verify: secret, jwks: [] }
}

function toContext (claims: AccessClaims): AuthContext {
  const { sub, sid, jti, roles, exp, iat, preferred_username: username } = claims
  if (typeof sub !== 'string' || typeof sid !== 'string' || typeof jti !== 'string' ||
    typeof exp !== 'number' || typeof iat !== 'number' || typeof username !== 'string' ||
    !Array.isArray(roles) || !roles.every((r) => typeof r === 'string')) {
    throw new errors.InvalidToken()
  }
  return { userId: sub, username, roles, sessionId: sid, tokenId: jti, issuedAt: iat, expiresAt: exp * 1000, rolesHeader: roles.map(headerValue).join(',') }
}

/** Issues and verifies access tokens with the key kept in MongoDB. */
async function tokens (fastify: FastifyInstance): Promise<void> {
  const { jwt: options, tokenCacheSize } = fastify.config
  const algorithm = options.algorithm
  const key = algorithm === 'HS256'
    ? symmetricKey(options.secret as string)
    : await asymmetricKey(fastify.db, algorithm)

  await fastify.register(fastifyJwt, {
    secret: algorithm === 'HS256' ? key.sign : { private: key.sign, public: key.verify },
    sign: {
      algorithm,
      kid: key.kid,
      header: { alg: algorithm, typ: 'at+jwt' },
      iss: options.issuer,
      aud: options.audience.length === 1 ? options.audience[0] : options.audience,
      expiresIn: options.accessTokenTtl // seconds: @fastify/jwt converts numbers to milliseconds
    },
    verify: {
      algorithms: [algorithm],
      allowedIss: options.issuer,
      allowedAud: options.audience,
      checkTyp: 'at+jwt',
      requiredClaims: REQUIRED_CLAIMS,
      cache: false
    }
  })

  const tolerance = options.clockTolerance
  const longestLifetime = options.accessTokenTtl + tolerance

  /**
   * The signature, `exp` and `nbf` are checked by the verifier; a correctly signed token must
   * also have been issued in the past (up to the clock tolerance between instances) for no
   * longer than Warden issues tokens for: anything else was not minted by this configuration.
   */
  function checkTimes (claims: AccessClaims): void {
    const { iat, exp } = claims
    if (typeof iat !== 'number' || typeof exp !== 'number') throw new errors.InvalidToken()
    if (iat > Date.now() / 1000 + tolerance || exp - iat > longestLifetime) throw new errors.InvalidToken()
  }

  /**
   * Tokens verified once, keyed by the tail of their signature (hashing the whole token on
   * every request costs more than the rest of the check); a hit counts only when the whole
   * token is equal, so a look-alike tail falls through to full verification.
   */
  const verified = new Map<string, { token: string, context: AuthContext }>()

  function verifyAccessToken (token: string): AuthContext {
    const key = token.slice(-CACHE_KEY_LENGTH)
    const hit = verified.get(key)
    if (hit !== undefined && hit.token === token) {
      if (hit.context.expiresAt > Date.now()) return hit.context
      verified.delete(key)
      throw new errors.TokenExpired()
    }
    if (token.length > MAX_TOKEN_LENGTH) throw new errors.InvalidToken()
    let claims: AccessClaims
    try {
      claims = fastify.jwt.verify<AccessClaims>(token)
    } catch (err) {
      throw (err as { code?: string }).code === 'FAST_JWT_EXPIRED' ? new errors.TokenExpired() : new errors.InvalidToken()
    }
    checkTimes(claims)
    const context = toContext(claims)
    if (tokenCacheSize > 0) {
      if (verified.size >= tokenCacheSize) verified.delete(verified.keys().next().value as string)
      verified.set(key, { token, context })
    }
    return context
  }

  fastify.decorate('tokens', {
    kid: key.kid,
    jwks: { keys: key.jwks },
    issueAccessToken (subject: TokenSubject, sessionId: string) {
      const tokenId = randomUUID()
      const token = fastify.jwt.sign({ sub: subject.id, sid: sessionId, jti: tokenId, roles: subject.roles, preferred_username: subject.username })
      return { token, expiresIn: options.accessTokenTtl, tokenId }
    },
    verifyAccessToken
  } satisfies Tokens)
}

export default fp(tokens, { name: 'tokens', fastify: '5.x', dependencies: ['config', 'db'] })
