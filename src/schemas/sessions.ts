import { Type } from '@sinclair/typebox'
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../lib/password-policy'

/** Refresh tokens are 43 characters; anything up to 512 is looked up (and not found) the same way. */
const RefreshToken = Type.String({ minLength: 1, maxLength: 512, description: 'The refresh token of a token pair' })

export const RefreshBody = Type.Object({
  refresh_token: RefreshToken
}, { additionalProperties: false })

export const LogoutBody = Type.Object({
  refresh_token: Type.Optional(RefreshToken)
}, { additionalProperties: false })

export const PasswordChangeBody = Type.Object({
  current_password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH * 4 }),
  // The length bounds of the password policy: a new password outside them is refused anyway.
  new_password: Type.String({ minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH })
}, { additionalProperties: false })

const NullableString = Type.Unsafe<string | null>({ type: ['string', 'null'] })

export const SessionItem = Type.Object({
  id: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  last_used_at: Type.String({ format: 'date-time', description: 'The last login or refresh' }),
  ip: NullableString,
  user_agent: NullableString,
  current: Type.Boolean({ description: 'The session of the access token that asked' })
})

export const SessionList = Type.Object({
  items: Type.Array(SessionItem)
})

export const SessionParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64 })
})
