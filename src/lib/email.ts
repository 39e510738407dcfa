/**
 * The e-mail addresses Warden takes: dot-separated atoms of RFC 5322's `atext` before the `@`, a
 * domain of at least two LDH labels after it (no quoted local part, no address literal, no
 * non-ASCII), at most 320 characters. `format: email` would not say this: JSON Schema defines it
 * as any RFC 5321 mailbox, quoted strings and IP literals included, which the validator refuses.
 * The body schemas state this pattern and the CLI checks it, so both take the same addresses.
 */
export const EMAIL_PATTERN = "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\\.)+[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$"
export const EMAIL_MAX_LENGTH = 320

const EMAIL = new RegExp(EMAIL_PATTERN, 'u')

/** Whether the schemas' pattern and length bound admit this address. */
export function isEmail (value: string): boolean {
  return value.length <= EMAIL_MAX_LENGTH && EMAIL.test(value)
}
