import { caseFold } from 'unicode-case-folding'
import unhomoglyph from 'unhomoglyph'

export const USERNAME_MIN_LENGTH = 3
export const USERNAME_MAX_LENGTH = 64

/**
 * Letters and digits of any script, each optionally followed by up to four combining marks
 * (vowel signs, viramas, accents that have no precomposed form), and `. _ - @ +`.
 */
const CHARACTERS = /^(?:[\p{L}\p{N}][\p{Mn}\p{Mc}]{0,4}|[._@+-])+$/u
/** The same combining mark twice in a row only ever serves to hide something. */
const REPEATED_MARK = /(\p{M})\1/u
/**
 * Characters that render as nothing (Unicode's Default_Ignorable_Code_Point: joiners, variation
 * selectors, the combining grapheme joiner, Hangul fillers...): some are letters or marks to the
 * patterns above, and `alice` followed by one would look exactly like `alice`.
 */
const INVISIBLE = /\p{Default_Ignorable_Code_Point}/u
/** A dot above on a letter that already has a dot (i, j, Cyrillic і...), other marks between allowed: it does not show. */
const HIDDEN_DOT = /(\p{Soft_Dotted}\p{Mn}*?)\u0307/gu

export type UsernameProblem = 'length' | 'characters' | 'mixed_scripts'

export interface NormalisedUsername {
  /** What the user typed, NFKC-normalised and trimmed: shown back to them. */
  display: string
  /** The case-insensitive identity (full Unicode case folding): unique in the database, used to log in. */
  key: string
  /** What the name looks like (Unicode TS #39 skeleton, case-folded): unique in the database. */
  skeleton: string
}

/** The name as it is kept and shown: NFKC, trimmed. */
function display (raw: string): string {
  return raw.normalize('NFKC').trim()
}

/** Why `raw` is not an acceptable username, or null when it is. */
export function checkUsername (raw: string): UsernameProblem | null {
  const name = display(raw)
  const length = [...name].length
  if (length < USERNAME_MIN_LENGTH || length > USERNAME_MAX_LENGTH) return 'length'
  if (!CHARACTERS.test(name) || REPEATED_MARK.test(name) || INVISIBLE.test(name)) return 'characters'
  if (!isHighlyRestrictive(name)) return 'mixed_scripts'
  return null
}

/**
 * NFKC-normalises and trims a username, checks it, and derives its case-insensitive key and its
 * look-alike skeleton, so that `Alice`, ` alice `, `ａｌｉｃｅ` (full-width) and `ALICE` are one
 * account and `alıce` or `AIice` cannot sit beside it. Returns `null` when the name is not
 * acceptable (`checkUsername` says why).
 */
export function normaliseUsername (raw: string): NormalisedUsername | null {
  if (checkUsername(raw) !== null) return null
  const name = display(raw)
  return { display: name, key: usernameKey(name), skeleton: usernameSkeleton(name) }
}

/** The Turkish capital dotted I (also what NFKC makes of `I` and a combining dot above). */
const CAPITAL_DOTTED_I = /\u0130/g

/**
 * The lookup key of a username (NFKC, full case folding, NFKC); safe on any input (never throws).
 * Folding would turn the Turkish capital `İ` into `i` and a dot above; it is folded as `I`, so
 * `ALİCE` is `alice` and `İlker` is `ilker`, as a Turkish reader takes them. A dot above typed
 * after a lower-case `i` is kept: that name is only a look-alike (its skeleton is taken).
 */
export function usernameKey (raw: string): string {
  return caseFold(display(raw).replace(CAPITAL_DOTTED_I, 'I')).normalize('NFKC')
}

/**
 * What a username looks like: the confusable skeleton of Unicode TS #39 (NFD, each character
 * replaced by its prototype from the Unicode confusables data, NFD again) of the name as shown,
 * case-folded and taken again, so that look-alikes in any mix of case collide (`AIice`, `alıce`
 * and `alice`; `аре` in Cyrillic and `ape`). A dot above a dotted letter is left out first: `i̇`
 * (i and U+0307) looks like `i`. Not for display. Safe on any input.
 */
export function usernameSkeleton (raw: string): string {
  return skeleton(caseFold(skeleton(display(raw))))
}

function skeleton (text: string): string {
  return unhomoglyph(text.normalize('NFD').replace(HIDDEN_DOT, '$1')).normalize('NFD')
}

// --- Scripts (Unicode TS #39, section 5: mixed-script detection) ------------------------------

/** Names of the Unicode scripts, from the same data the JavaScript regular expressions use. */
const SCRIPT_NAMES = (require('regenerate-unicode-properties') as Map<string, string[]>).get('Script_Extensions') ?? []
const NEUTRAL = /^[\p{Script_Extensions=Common}\p{Script_Extensions=Inherited}]$/u
/** TS #39's augmented script sets: Han writing is shared by Japanese, Chinese and Korean. */
const AUGMENT: Record<string, string[]> = {
  Han: ['Han+Bopomofo', 'Japanese', 'Korean'],
  Hiragana: ['Japanese'],
  Katakana: ['Japanese'],
  Hangul: ['Korean'],
  Bopomofo: ['Han+Bopomofo']
}
/** Script combinations TS #39's "highly restrictive" level allows beside Latin. */
const WITH_LATIN = ['Han+Bopomofo', 'Japanese', 'Korean']

let scriptTests: Array<[string, RegExp]> | undefined
/** One `\p{scx=...}` test per script this runtime knows, built on first use. */
function scriptPatterns (): Array<[string, RegExp]> {
  if (scriptTests === undefined) {
    scriptTests = []
    for (const name of SCRIPT_NAMES) {
      if (name === 'Common' || name === 'Inherited') continue
      try {
        scriptTests.push([name, new RegExp(`^\\p{Script_Extensions=${name}}$`, 'u')])
      } catch {
        // a script newer than this runtime's Unicode data: none of its characters is a letter here
      }
    }
  }
  return scriptTests
}

const LATIN: ReadonlySet<string> = new Set(['Latin'])
/** Script sets of the characters met so far (bounded: usernames use few distinct characters). */
const knownScripts = new Map<string, ReadonlySet<string> | null>()
const KNOWN_SCRIPTS_LIMIT = 20_000

/** The augmented Script_Extensions of one character, or null for Common and Inherited (any script). */
function scriptsOf (char: string): ReadonlySet<string> | null {
  if (/^[a-zA-Z]$/.test(char)) return LATIN
  const known = knownScripts.get(char)
  if (known !== undefined) return known
  let scripts: Set<string> | null = null
  if (!NEUTRAL.test(char)) {
    scripts = new Set<string>()
    for (const [name, pattern] of scriptPatterns()) {
      if (!pattern.test(char)) continue
      scripts.add(name)
      for (const extra of AUGMENT[name] ?? []) scripts.add(extra)
    }
  }
  if (knownScripts.size < KNOWN_SCRIPTS_LIMIT) knownScripts.set(char, scripts)
  return scripts
}

/** The scripts every character of `chars` belongs to (TS #39's resolved script set); null for "any". */
function resolve (chars: Iterable<ReadonlySet<string> | null>): Set<string> | null {
  let resolved: Set<string> | null = null
  for (const scripts of chars) {
    if (scripts === null) continue
    if (resolved === null) {
      resolved = new Set(scripts)
      continue
    }
    for (const script of resolved) if (!scripts.has(script)) resolved.delete(script)
  }
  return resolved
}

/**
 * TS #39's "highly restrictive" level: every letter is of one script, or the name is Latin plus
 * Japanese (Han, Hiragana, Katakana), Chinese (Han, Bopomofo) or Korean (Han, Hangul).
 */
function isHighlyRestrictive (name: string): boolean {
  const sets = [...name].map(scriptsOf)
  const all = resolve(sets)
  if (all === null || all.size > 0) return true
  const withoutLatin = resolve(sets.filter((s) => s === null || !s.has('Latin')))
  return withoutLatin !== null && WITH_LATIN.some((s) => withoutLatin.has(s))
}
