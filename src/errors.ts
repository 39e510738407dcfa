import createError, { type FastifyErrorConstructor } from '@fastify/error'
import { USERNAME_MAX_LENGTH, USERNAME_MIN_LENGTH } from './lib/username'

/**
 * Every error Warden answers with, declared once. The wire code is the part after
 * `WARDEN_`, lower-cased: `WARDEN_INVALID_TOKEN` is sent as `{"error": "invalid_token"}`.
 * Errors thrown on the authentication path skip the stack trace: they are expected,
 * frequent, and never logged with one.
 */
const define = (code: string, message: string, status: number, stack = true): FastifyErrorConstructor =>
  createError(`WARDEN_${code}`, message, status, Error, stack)

export const errors = {
  // bearer authentication (RFC 6750)
  MissingToken: define('MISSING_TOKEN', 'A bearer token is required', 401, false),
  InvalidToken: define('INVALID_TOKEN', 'The access token is invalid', 401, false),
  /** 401 rather than RFC 6750's 400 invalid_request: forward-auth proxies deny on 401 but fail on 400. */
  AmbiguousCredentials: define('INVALID_TOKEN', 'Send exactly one Authorization header', 401, false),
  TokenExpired: define('TOKEN_EXPIRED', 'The access token has expired', 401, false),
  TokenRevoked: define('TOKEN_REVOKED', 'The access token has been revoked', 401, false),
  AccountLocked: define('ACCOUNT_LOCKED', 'The account is locked', 403, false),
  Forbidden: define('FORBIDDEN', 'This action requires %s', 403, false),
  // credentials and accounts
  InvalidCredentials: define('INVALID_CREDENTIALS', 'Invalid username or password', 401, false),
  InvalidGrant: define('INVALID_GRANT', 'The refresh token is invalid, expired or revoked', 401, false),
  TooManyAttempts: define('TOO_MANY_ATTEMPTS', 'Too many attempts; retry later', 429, false),
  InvalidUnlockToken: define('INVALID_TOKEN', 'The unlock token is invalid, expired or already used', 400, false),
  Unavailable: define('UNAVAILABLE', 'Temporarily unavailable; retry shortly', 503, false),
  UsernameTaken: define('USERNAME_TAKEN', 'This username is already taken', 409),
  InvalidUsername: define('INVALID_USERNAME', `Username must be ${USERNAME_MIN_LENGTH} to ${USERNAME_MAX_LENGTH} letters, digits or . _ - @ +`, 400),
  UsernameMixesScripts: define('INVALID_USERNAME', 'Username must not mix scripts (such as Latin and Cyrillic letters)', 400),
  WeakPassword: define('WEAK_PASSWORD', '%s', 400),
  RegistrationClosed: define('REGISTRATION_CLOSED', 'Registration is closed; ask an administrator for an account', 403),
  // administration
  LastAdmin: define('LAST_ADMIN', 'This would leave no active administrator: make another account an admin first', 409),
  CannotLockSelf: define('CANNOT_LOCK_SELF', 'An administrator cannot lock their own account', 409),
  UnknownRole: define('UNKNOWN_ROLE', 'Unknown role: %s (the roles are %s)', 400),
  // keys and service clients
  KeyRotationUnsupported: define('KEY_ROTATION_UNSUPPORTED', 'Key rotation does not apply to JWT_ALG=HS256: the signing key is JWT_SECRET', 409),
  InvalidClient: define('INVALID_CLIENT', 'Client authentication failed', 401, false),
  ClientNameTaken: define('CLIENT_NAME_TAKEN', 'A service client named "%s" already exists', 409),
  // generic
  ValidationError: define('VALIDATION_ERROR', '%s', 400),
  BadRequest: define('BAD_REQUEST', '%s', 400),
  NotFound: define('NOT_FOUND', '%s', 404),
  NotReady: define('NOT_READY', 'The database is not answering', 503, false),
  Internal: define('INTERNAL_ERROR', 'Internal server error', 500)
} as const

/**
 * Marks an error with the seconds a client should wait before retrying; the error handler
 * sends them as `Retry-After`. Undefined (a permanent lock) sends nothing.
 */
export function withRetryAfter<E extends Error> (err: E, seconds: number | undefined): E {
  if (seconds !== undefined) (err as E & { retryAfter?: number }).retryAfter = seconds
  return err
}

/** The Retry-After seconds an error carries, if any. */
export function retryAfterOf (err: unknown): number | undefined {
  const value = (err as { retryAfter?: unknown }).retryAfter
  return typeof value === 'number' ? value : undefined
}

/** Codes whose 401/403 answers carry an RFC 6750 `error="..."` attribute. */
const BEARER_ERRORS: Record<string, string> = {
  invalid_token: 'invalid_token',
  token_expired: 'invalid_token',
  token_revoked: 'invalid_token',
  forbidden: 'insufficient_scope'
}

/** The `WWW-Authenticate` value for a bearer-protected route's error, or undefined. */
export function wwwAuthenticate (code: string, message: string, status = 401): string | undefined {
  if (status !== 401 && status !== 403) return undefined
  if (code === 'missing_token') return 'Bearer realm="warden"'
  if (code === 'invalid_client') return 'Basic realm="warden"'
  const error = BEARER_ERRORS[code]
  if (error === undefined) return undefined
  return `Bearer realm="warden", error="${error}", error_description="${message.replace(/["\\]/g, '')}"`
}

/** The wire code of an error thrown from the catalogue, or undefined for anything else. */
export function wireCode (err: { code?: unknown }): string | undefined {
  return typeof err.code === 'string' && err.code.startsWith('WARDEN_') ? err.code.slice(7).toLowerCase() : undefined
}
