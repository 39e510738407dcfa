/** Longest token either verifier looks at; longer ones are refused before any parsing. */
export const MAX_TOKEN_LENGTH = 8192

/** Characters of the signature that key the cache (hashing the whole token costs more than the rest of a check). */
const KEY_LENGTH = 32

/**
 * Tokens verified once, with what their check found, up to `capacity` (the oldest leave first;
 * 0 keeps none). Keyed by the tail of the signature; a hit counts only when the whole token is
 * equal, so a look-alike tail falls through to full verification. Warden's own token check and
 * the verifier of relying services keep one each.
 */
export class VerifiedTokens<T> {
  private readonly entries = new Map<string, { token: string, value: T, expiresAt: number }>()

  constructor (private readonly capacity: number) {}

  /** What was kept for exactly this token, and when it expires (ms); undefined when nothing was. */
  get (token: string): { value: T, expiresAt: number } | undefined {
    const hit = this.entries.get(token.slice(-KEY_LENGTH))
    return hit !== undefined && hit.token === token ? hit : undefined
  }

  set (token: string, value: T, expiresAt: number): void {
    if (this.capacity <= 0) return
    if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value as string)
    this.entries.set(token.slice(-KEY_LENGTH), { token, value, expiresAt })
  }

  delete (token: string): void {
    this.entries.delete(token.slice(-KEY_LENGTH))
  }

  get size (): number {
    return this.entries.size
  }
}
