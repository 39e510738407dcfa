/**
 * Whether a header field occurs more than once in Node's `rawHeaders` (name, value, name, ...).
 * Node keeps only the first `Host` or `Authorization` in `headers`, so a second one, which another
 * server on the path may read instead, would otherwise pass unseen. `name` is lower-case.
 */
export function repeatsHeader (rawHeaders: string[], name: string): boolean {
  let seen = false
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const field = rawHeaders[i]
    if (field.length === name.length && field.toLowerCase() === name) {
      if (seen) return true
      seen = true
    }
  }
  return false
}
