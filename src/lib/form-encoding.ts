/**
 * `application/x-www-form-urlencoded` text (WHATWG URL standard, RFC 6749 appendix B), read
 * strictly: a percent-encoding that is malformed or does not decode to UTF-8 (an overlong form,
 * an encoded surrogate) is an error, never kept as it was sent nor replaced by U+FFFD, so two
 * different byte strings cannot read as one value.
 */

/** One name or value: `+` is a space, `%XX` a byte of UTF-8; null when it does not decode. */
export function formDecode (value: string): string | null {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '))
  } catch {
    return null
  }
}

/** Names, in the order they came, each with its value(s): a name given twice has an array. */
export type FormFields = Record<string, string | string[]>

/**
 * Parses form text into fields on an object without a prototype; null when a name or value does
 * not decode. Empty pairs (`a=1&&b=2`) are skipped; a pair without `=` is a name with an empty value.
 */
export function parseForm (text: string): FormFields | null {
  const fields: FormFields = Object.create(null)
  if (text.length === 0) return fields
  for (const pair of text.split('&')) {
    if (pair.length === 0) continue
    const eq = pair.indexOf('=')
    const name = formDecode(eq < 0 ? pair : pair.slice(0, eq))
    const value = eq < 0 ? '' : formDecode(pair.slice(eq + 1))
    if (name === null || value === null) return null
    const seen = fields[name]
    if (seen === undefined) fields[name] = value
    else if (Array.isArray(seen)) seen.push(value)
    else fields[name] = [seen, value]
  }
  return fields
}
