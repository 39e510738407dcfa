/** Letters, digits and `. _ - @ +`; 3 to 64 characters once normalised. */
const USERNAME = /^[\p{L}\p{N}._@+-]{3,64}$/u

export interface NormalisedUsername {
  /** What the user typed, NFKC-normalised and trimmed: shown back to them. */
  display: string
  /** The case-insensitive identity: unique in the database. */
  key: string
}

/**
 * NFKC-normalises and trims a username, and derives its case-insensitive key,
 * so that `Alice`, ` alice ` and `ａｌｉｃｅ` (full-width) are one account.
 * Returns `null` when the result is not an acceptable username.
 */
export function normaliseUsername (raw: string): NormalisedUsername | null {
  const display = raw.normalize('NFKC').trim()
  if (!USERNAME.test(display)) return null
  return { display, key: usernameKey(display) }
}

/** The lookup key of a username; safe on any input (never throws). */
export function usernameKey (raw: string): string {
  return raw.normalize('NFKC').trim().toLowerCase().normalize('NFKC')
}
