import { Type, type TSchema } from '@sinclair/typebox'
import { EMAIL_MAX_LENGTH, EMAIL_PATTERN } from '../lib/email'

export const ErrorResponse = Type.Object({
  error: Type.String({ description: 'Stable, machine-readable error code' }),
  message: Type.String({ description: 'Human-readable explanation' })
}, { $id: 'ErrorResponse', title: 'Error' })

/** Response schemas for a route: its successes plus the listed error statuses. */
export function responses<S extends Record<number, TSchema>> (success: S, ...errorStatuses: number[]): S & Record<number, TSchema> {
  const all: Record<number, TSchema> = { ...success }
  for (const status of errorStatuses) all[status] = Type.Ref(ErrorResponse)
  return all as S & Record<number, TSchema>
}

/** The largest request body read (bytes); a larger one is answered 413 `payload_too_large`. */
export const BODY_LIMIT = 64 * 1024

export const Empty = Type.Null({ description: 'No content' })

/** An RFC 3339 date-time is at most about 35 characters (nanoseconds and an offset): anything longer is not one. */
export const DATE_TIME_MAX_LENGTH = 64

/** The bearer requirement of protected routes, for the OpenAPI document. */
export const bearer = [{ bearerAuth: [] }]

/**
 * Marks a route whose body may be left out (its preValidation takes none for an empty one): the
 * OpenAPI document then says the body is optional (plugins/openapi.ts).
 */
export const OPTIONAL_BODY = 'x-optional-body'

/** An e-mail address as src/lib/email.ts defines it: the pattern and bound are the whole rule. */
export const Email = Type.String({ pattern: EMAIL_PATTERN, maxLength: EMAIL_MAX_LENGTH, description: 'An e-mail address: atext atoms, @, a domain of two or more labels' })
