import { formDecode } from './form-encoding'

/** Client credentials from an HTTP Basic `Authorization` header. */
export interface BasicCredentials {
  id: string
  secret: string
}

const BASIC = /^basic +/i

/**
 * Whether the header uses the Basic scheme at all (a request with a bearer token, or none,
 * is not presenting client credentials).
 */
export function isBasic (header: string | undefined): boolean {
  return header !== undefined && BASIC.test(header)
}

/**
 * Parses `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 7617, with the
 * form-encoding RFC 6749 section 2.3.1 requires of OAuth clients). Null when absent or malformed.
 */
export function parseBasic (header: string | undefined): BasicCredentials | null {
  if (header === undefined) return null
  const match = BASIC.exec(header)
  if (match === null) return null
  const encoded = header.slice(match[0].length).trim()
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return null
  const decoded = Buffer.from(encoded, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon <= 0) return null
  const id = formDecode(decoded.slice(0, colon))
  const secret = formDecode(decoded.slice(colon + 1))
  if (id === null || secret === null || id === '' || secret === '') return null
  return { id, secret }
}

/** RFC 6749 appendix B: `application/x-www-form-urlencoded` encoding. */
function formEncode (value: string): string {
  return encodeURIComponent(value).replace(/%20/g, '+')
}

/** The `Authorization` value `parseBasic` reads: `Basic base64(urlencode(id) ":" urlencode(secret))`. */
export function basicHeader (id: string, secret: string): string {
  return `Basic ${Buffer.from(`${formEncode(id)}:${formEncode(secret)}`).toString('base64')}`
}
