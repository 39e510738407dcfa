/** Characters sent as they are: RFC 3986 unreserved characters, `@` and `+` (so ASCII usernames are unchanged). */
const PLAIN = /^[A-Za-z0-9._~@+-]*$/
/** A UTF-16 surrogate without its pair: not a character, and not encodable as UTF-8. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/**
 * A value carrying user data, made safe for an HTTP header: percent-encoded UTF-8 (RFC 3986), where
 * every byte other than `A-Z a-z 0-9 - . _ ~ ! * ' ( ) @ +` is written `%XX`. Decode it with
 * `decodeURIComponent` (or any RFC 3986 percent-decoder; `+` is a plus sign, not a space).
 * Never throws: a lone surrogate becomes U+FFFD.
 */
export function headerValue (text: string): string {
  if (PLAIN.test(text)) return text
  return encodeURIComponent(text.replace(LONE_SURROGATE, '\uFFFD')).replace(/%40/g, '@').replace(/%2B/g, '+')
}
