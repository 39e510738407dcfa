/**
 * What a request's names and values may be, before any schema looks at them. Pure: the
 * request-input plugin (plugins/request-input.ts) applies it to bodies and query strings.
 */

/** Names that JavaScript gives a meaning to: never the name of a field, at any depth. */
export const RESERVED_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype'])

/** Deeper than any body Warden takes (the deepest, a list of roles, is two levels). */
export const MAX_JSON_DEPTH = 8

/** An unpaired UTF-16 surrogate (a pair is one code point in a `u` expression). */
const LONE_SURROGATE = /\p{Cs}/u

export type InputProblem =
  | { kind: 'reserved', path: string }
  | { kind: 'brackets', path: string }
  | { kind: 'depth', path: string }
  | { kind: 'surrogate', path: string }

/**
 * The first flat name (form field, query parameter) that would mean something to another parser:
 * a reserved name, also as a part of `a.b` or `a[b]`, or bracket syntax on a name the route reads
 * (`username[$ne]`, `roles[]`), which Warden never reads as an object or an array. A bracketed name
 * the route does not read is an unknown name like any other (ignored); without `declared`, every
 * bracketed name is a problem.
 */
export function flatNamesProblem (names: Iterable<string>, declared?: ReadonlySet<string>): InputProblem | null {
  for (const name of names) {
    if (name.split(/[.[\]]/).some((part) => RESERVED_NAMES.has(part))) return { kind: 'reserved', path: `/${name}` }
    const bracket = name.search(/[[\]]/)
    if (bracket >= 0 && (declared === undefined || declared.has(name.slice(0, bracket)))) return { kind: 'brackets', path: `/${name}` }
  }
  return null
}

/** The names a route's body or query-string schema declares (its top-level properties). */
export function declaredNames (schema: unknown): ReadonlySet<string> {
  const properties = (schema as { properties?: Record<string, unknown> } | undefined)?.properties
  return new Set(properties === undefined ? [] : Object.keys(properties))
}

/**
 * The first problem of a parsed JSON value, looked for without recursion (a body may be nested
 * thousands of levels): a reserved name, nesting deeper than MAX_JSON_DEPTH, or a name or string
 * with a lone surrogate (`"\ud800"`), which no UTF-8 text can carry and which would be stored
 * and hashed as U+FFFD, the same as any other.
 */
export function jsonProblem (value: unknown): InputProblem | null {
  const stack: Array<[unknown, string, number]> = [[value, '', 0]]
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [node, path, depth] = next
    if (typeof node === 'string') {
      if (LONE_SURROGATE.test(node)) return { kind: 'surrogate', path }
      continue
    }
    if (node === null || typeof node !== 'object') continue
    if (depth >= MAX_JSON_DEPTH) return { kind: 'depth', path }
    if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--) stack.push([node[i], `${path}/${i}`, depth + 1])
      continue
    }
    for (const [name, child] of Object.entries(node)) {
      if (RESERVED_NAMES.has(name)) return { kind: 'reserved', path: `${path}/${name}` }
      if (LONE_SURROGATE.test(name)) return { kind: 'surrogate', path }
      stack.push([child, `${path}/${name}`, depth + 1])
    }
  }
  return null
}

/** What a client is told about a problem of `part` (`body`, `querystring`); paths are JSON pointers. */
export function describeProblem (part: string, problem: InputProblem): string {
  const where = `${part}${problem.path}`
  switch (problem.kind) {
    case 'reserved': return `${where} is a reserved name`
    case 'brackets': return `${where}: names in brackets are not read as objects or arrays; send name=value, the name once per item of an array`
    case 'depth': return `${part} is nested more than ${MAX_JSON_DEPTH} levels deep`
    case 'surrogate': return `${where} is not valid Unicode (a lone surrogate)`
  }
}
