/**
 * Whether an `If-None-Match` request header matches `etag` (RFC 9110 13.1.2: weak comparison,
 * `*` matches any current representation).
 */
export function notModified (ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false
  const opaque = etag.replace(/^W\//, '')
  return ifNoneMatch.split(',').some((tag) => {
    const t = tag.trim()
    return t === '*' || t.replace(/^W\//, '') === opaque
  })
}
