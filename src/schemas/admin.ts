import { Type } from '@sinclair/typebox'
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../lib/password-policy'
import { USERNAME_MAX_LENGTH, USERNAME_MIN_LENGTH } from '../lib/username'
import { DATE_TIME_MAX_LENGTH, Email } from './common'

export const DEFAULT_PAGE_SIZE = 50
export const MAX_PAGE_SIZE = 200

/** A type list rather than anyOf: serialised without a runtime schema check. */
const Nullable = <T>(type: 'string' | 'boolean', extra: Record<string, unknown> = {}) =>
  Type.Unsafe<T | null>({ type: [type, 'null'], ...extra })

const RoleName = Type.String({ minLength: 1, maxLength: 64 })
const Roles = Type.Array(RoleName, { maxItems: 32, description: 'Roles replacing the current ones; `user` is always kept' })

/** An account as administrators see it. Never a password hash. */
export const AdminUser = Type.Object({
  id: Type.String(),
  username: Type.String(),
  email: Nullable<string>('string'),
  roles: Type.Array(Type.String()),
  created_at: Type.String({ format: 'date-time' }),
  last_login_at: Nullable<string>('string', { format: 'date-time' }),
  locked: Type.Boolean(),
  locked_until: Nullable<string>('string', { format: 'date-time', description: 'null while unlocked, or for a lock without an end' }),
  lock_reason: Nullable<string>('string', { description: '`admin`, or the reason of an automatic lock; null while unlocked' }),
  lock_note: Nullable<string>('string', { description: 'The note given with an admin lock' })
}, { additionalProperties: false })

export const UserPage = Type.Object({
  items: Type.Array(AdminUser),
  next_cursor: Nullable<string>('string', { description: 'Pass it as `cursor` for the next page; null on the last page' })
})

export const UserListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE, description: 'Page size' })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'next_cursor of the previous page' })),
  q: Type.Optional(Type.String({ maxLength: 256, description: 'Part of the username, compared case-insensitively' })),
  locked: Type.Optional(Type.Boolean({ description: 'true: locked accounts only; false: unlocked only' })),
  role: Type.Optional(RoleName)
}, { additionalProperties: false })

export const UserParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64 })
})

export const CreateUserBody = Type.Object({
  // The length bounds of the username rules and the password policy, as at registration.
  username: Type.String({ minLength: USERNAME_MIN_LENGTH, maxLength: USERNAME_MAX_LENGTH }),
  password: Type.String({ minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH }),
  email: Type.Optional(Email),
  roles: Type.Optional(Roles)
}, { additionalProperties: false })

export const UpdateUserBody = Type.Object({
  roles: Type.Optional(Roles),
  email: Type.Optional(Type.Union([Email, Type.Null()], { description: 'null removes it' }))
}, { additionalProperties: false })

export const LockBody = Type.Object({
  reason: Type.Optional(Type.String({ maxLength: 500, description: 'A note for other administrators (the event reason is `admin`)' })),
  until: Type.Optional(Type.String({ format: 'date-time', maxLength: DATE_TIME_MAX_LENGTH, description: 'When the lock ends; omitted: until unlocked' }))
}, { additionalProperties: false })
