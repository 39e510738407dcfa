import { parse } from 'yaml'

/**
 * Roles and permissions. A role grants permissions; a permission ending in `:*` grants every
 * permission under that prefix (`admin:*` grants `admin:users:read`). Tokens carry roles only:
 * permissions are derived here, from the current map, on every check.
 */
export type RoleMap = Record<string, readonly string[]>

/** The built-in map: `admin` may do every admin action; `user` has what every signed-in user has. */
export const DEFAULT_ROLES: RoleMap = {
  admin: ['admin:*'],
  user: []
}

/** What a route asks of its caller: every listed role, and every listed permission. */
export interface Requirement {
  roles?: readonly string[]
  permissions?: readonly string[]
}

/** The permissions granted by `roles` under `map`. */
export function permissionsOf (roles: readonly string[], map: RoleMap): Set<string> {
  const granted = new Set<string>()
  for (const role of roles) for (const permission of map[role] ?? []) granted.add(permission)
  return granted
}

/** Whether `granted` covers `needed`, directly or through a `prefix:*` wildcard. */
export function grants (granted: ReadonlySet<string>, needed: string): boolean {
  if (granted.has(needed) || granted.has('*')) return true
  for (let i = needed.lastIndexOf(':'); i > 0; i = needed.lastIndexOf(':', i - 1)) {
    if (granted.has(needed.slice(0, i) + ':*')) return true
  }
  return false
}

/** The first role or permission of `requirement` that `roles` lack, or undefined when they meet it. */
export function missing (requirement: Requirement, roles: readonly string[], map: RoleMap): string | undefined {
  for (const role of requirement.roles ?? []) if (!roles.includes(role)) return `the ${role} role`
  if (requirement.permissions === undefined || requirement.permissions.length === 0) return undefined
  const granted = permissionsOf(roles, map)
  for (const permission of requirement.permissions) if (!grants(granted, permission)) return `the ${permission} permission`
  return undefined
}

/** The role every account has. */
export const DEFAULT_ROLE = 'user'
/** The administrator role: the first-admin bootstrap grants it, and the last one cannot be removed. */
export const ADMIN_ROLE = 'admin'

/** The permissions the admin API's routes require (the `admin` role has them all through `admin:*`). */
export const ADMIN_PERMISSIONS = {
  usersRead: 'admin:users:read',
  usersCreate: 'admin:users:create',
  usersUpdate: 'admin:users:update',
  usersDelete: 'admin:users:delete',
  usersLock: 'admin:users:lock'
} as const

const ROLE_NAME = /^[a-z][a-z0-9_.-]{0,63}$/
/** `name`, `name:sub`, ..., each segment may be `*` when last; or `*` alone. */
const PERMISSION = /^(\*|[a-z0-9_.-]+(:[a-z0-9_.-]+)*(:\*)?)$/

/**
 * Checks a parsed role map (from RBAC_FILE): an object of role name → list of permissions,
 * with the `user` role and an `admin` role that keeps every `admin:*` permission. Returns the
 * map, frozen, or throws an Error whose message is one line saying what is wrong.
 */
export function validateRoleMap (value: unknown): RoleMap {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error('must map role names to lists of permissions, e.g. {"admin": ["admin:*"], "user": []}')
  }
  const map: Record<string, readonly string[]> = {}
  for (const [role, permissions] of Object.entries(value)) {
    if (!ROLE_NAME.test(role)) throw new Error(`role "${role}": names are 1 to 64 lower-case letters, digits or . _ - and start with a letter`)
    if (permissions === null) {
      map[role] = Object.freeze([])
      continue
    }
    if (!Array.isArray(permissions) || !permissions.every((p) => typeof p === 'string')) {
      throw new Error(`role "${role}": permissions must be a list of strings`)
    }
    const bad = permissions.find((p) => !PERMISSION.test(p))
    if (bad !== undefined) throw new Error(`role "${role}": "${bad}" is not a permission (lower-case words separated by ":", optionally ending in ":*")`)
    map[role] = Object.freeze([...new Set(permissions as string[])])
  }
  if (map[DEFAULT_ROLE] === undefined) throw new Error(`must define the "${DEFAULT_ROLE}" role (every account has it; [] grants nothing)`)
  if (map[ADMIN_ROLE] === undefined || !grants(new Set(map[ADMIN_ROLE]), 'admin:*')) {
    throw new Error(`the "${ADMIN_ROLE}" role must grant "admin:*" (the first admin and the last-admin rule rely on it)`)
  }
  return Object.freeze(map)
}

/**
 * The first permission of `roles` (under `map`) that `granted` does not cover, or undefined.
 * An actor may give or take away only roles whose every permission it holds itself, so no one
 * hands out more than they have.
 */
export function uncovered (granted: ReadonlySet<string>, roles: readonly string[], map: RoleMap): string | undefined {
  for (const role of roles) {
    for (const permission of map[role] ?? []) {
      if (!grants(granted, permission)) return permission
    }
  }
  return undefined
}

/**
 * Parses the text of an RBAC file (YAML, or JSON, which YAML includes) into a checked role
 * map. Throws an Error whose message is one line (with the line number of a syntax error).
 */
export function parseRoleMap (text: string): RoleMap {
  let value: unknown
  try {
    value = parse(text)
  } catch (err) {
    throw new Error((err as Error).message.split('\n')[0].replace(/:$/, ''))
  }
  return validateRoleMap(value)
}
