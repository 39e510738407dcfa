const BEARER = /^bearer +/i

/**
 * The bearer token of `Authorization: Bearer <token>` (RFC 6750: the scheme in any case,
 * then one or more spaces), or undefined when none is presented (a request without bearer
 * credentials gets a challenge without error code).
 */
export function bearerToken (header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  // The common spelling, with exactly one space, without the regular expression.
  if (header.startsWith('Bearer ') && header.charCodeAt(7) !== 32) return header.slice(7)
  const match = BEARER.exec(header)
  return match === null ? undefined : header.slice(match[0].length)
}
