import { Type } from '@sinclair/typebox'
import { PASSWORD_MAX_LENGTH } from '../lib/password-policy'

/** Inputs are bounded generously; the policies in src/lib give the precise answers. */
export const RegisterBody = Type.Object({
  username: Type.String({ minLength: 1, maxLength: 256 }),
  password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH * 4 }),
  email: Type.Optional(Type.String({ format: 'email', maxLength: 320 }))
}, { additionalProperties: false })

export const LoginBody = Type.Object({
  username: Type.String({ minLength: 1, maxLength: 256 }),
  password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH * 4 }),
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
