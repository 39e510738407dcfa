/**
 * The checks an access token's claims must pass beyond its signature, shared by Warden's own
 * verification and by the verifier relying services use, so that both accept the same tokens.
 */

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

/** Claims every access token carries; a token without one of them is not Warden's. */
export const REQUIRED_CLAIMS = ['iss', 'aud', 'sub', 'iat', 'exp', 'jti', 'sid', 'roles']

/** Whether verified claims have the shapes Warden issues (strings, a list of role strings). */
export function hasAccessClaimShapes (claims: Partial<Record<keyof AccessClaims, unknown>>): claims is AccessClaims {
  const { sub, sid, jti, roles, exp, iat, preferred_username: username } = claims
  return typeof sub === 'string' && typeof sid === 'string' && typeof jti === 'string' &&
    typeof exp === 'number' && typeof iat === 'number' && typeof username === 'string' &&
    Array.isArray(roles) && roles.every((r) => typeof r === 'string')
}

/**
 * Whether a correctly signed token was issued in the past (up to `tolerance` seconds of clock
 * difference) for no longer than `longestLifetime` seconds: anything else was not minted by
 * Warden's configuration. `longestLifetime` undefined skips the second check.
 */
export function issuedPlausibly (claims: { iat?: unknown, exp?: unknown }, nowSeconds: number, tolerance: number, longestLifetime: number | undefined): boolean {
  const { iat, exp } = claims
  if (typeof iat !== 'number' || typeof exp !== 'number') return false
  if (iat > nowSeconds + tolerance) return false
  return longestLifetime === undefined || exp - iat <= longestLifetime
}
