import { Type } from '@sinclair/typebox'
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../lib/password-policy'
import { USERNAME_MAX_LENGTH, USERNAME_MIN_LENGTH } from '../lib/username'
import { Email } from './common'

/** The bounds of the username rules (src/lib/username.ts); the rules themselves give the precise answer. */
const Username = Type.String({
  minLength: USERNAME_MIN_LENGTH,
  maxLength: USERNAME_MAX_LENGTH,
  description: `${USERNAME_MIN_LENGTH} to ${USERNAME_MAX_LENGTH} letters, digits or . _ - @ + of one script; case-insensitive`
})

/** The length bounds of the password policy (src/lib/password-policy.ts), in characters as it counts them. */
export const RegisterBody = Type.Object({
  username: Username,
  password: Type.String({
    minLength: PASSWORD_MIN_LENGTH,
    maxLength: PASSWORD_MAX_LENGTH,
    description: `${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters, not the username, not a common password`
  }),
  email: Type.Optional(Email)
}, { additionalProperties: false })

export const LoginBody = Type.Object({
  username: Username,
  password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH }),
  device_token: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'The device token of an earlier login (browsers send the cookie instead)' }))
}, { additionalProperties: false })

export const UnlockRequestBody = Type.Object({
  username: Type.String({ minLength: 1, maxLength: 256 })
}, { additionalProperties: false })

export const UnlockBody = Type.Object({
  token: Type.String({ minLength: 1, maxLength: 256 })
}, { additionalProperties: false })

export const PublicUser = Type.Object({
  id: Type.String(),
  username: Type.String(),
  roles: Type.Array(Type.String())
})

export const TokenResponse = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ description: 'Seconds until the access token expires' }),
  refresh_token: Type.String(),
  device_token: Type.Optional(Type.String({ description: 'Send it back as `device_token` at the next login: failures with it count against this device only, and automatic locks do not block it' }))
})

export const Profile = Type.Object({
  id: Type.String(),
  username: Type.String(),
  roles: Type.Array(Type.String()),
  created_at: Type.String({ format: 'date-time' }),
  // A type list rather than anyOf: serialised without a runtime schema check.
  last_login_at: Type.Unsafe<string | null>({ type: ['string', 'null'], format: 'date-time' })
})
