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
