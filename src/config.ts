import envSchema from 'env-schema'
import { Type, type Static } from '@sinclair/typebox'
import { parseDuration } from './lib/duration'

/** Argon2id floor: OWASP's minimum (m=19 MiB, t=2, p=1). Lower values are refused. */
export const ARGON2_MIN = { memoryCost: 19456, timeCost: 2, parallelism: 1 }

/** A string enum as plain JSON Schema `enum`, so that errors list the allowed values. */
const StringEnum = <T extends string>(values: readonly T[], fallback: T) =>
  Type.Unsafe<T>({ type: 'string', enum: values, default: fallback })

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

const DurationString = (fallback: string, description: string) =>
  Type.String({ default: fallback, description: `${description} (900, 900s, 15m, 12h, 30d)` })

const EnvSchema = Type.Object({
  HOST: Type.String({ default: '127.0.0.1' }),
  PORT: Type.Integer({ default: 3000, minimum: 0, maximum: 65535 }),
  MONGODB_URI: Type.Optional(Type.String({ pattern: '^mongodb(\\+srv)?://' })),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  JWT_ISSUER: Type.String({ default: 'http://localhost:3000', minLength: 1 }),
  JWT_AUDIENCE: Type.String({ default: 'warden', minLength: 1 }),
  JWT_ALG: StringEnum(['RS256', 'ES256', 'EdDSA', 'HS256'] as const, 'RS256'),
  JWT_SECRET: Type.Optional(Type.String()),
  ACCESS_TOKEN_TTL: DurationString('15m', 'access token lifetime'),
  REFRESH_TOKEN_TTL: DurationString('30d', 'refresh token lifetime'),
  LOCKOUT_THRESHOLD: Type.Integer({ default: 10, minimum: 1 }),
  LOCKOUT_DURATION: DurationString('15m', 'first automatic lock'),
  LOCKOUT_MAX_DURATION: DurationString('24h', 'longest automatic lock'),
  THROTTLE_THRESHOLD: Type.Integer({ default: 5, minimum: 1 }),
  LOGIN_EVENT_RETENTION: DurationString('90d', 'login history retention'),
  REGISTRATION: StringEnum(['open', 'closed'] as const, 'open'),
  ADMIN_USERNAME: Type.Optional(Type.String({ minLength: 1 })),
  ADMIN_PASSWORD: Type.Optional(Type.String({ minLength: 1 })),
  TRUST_PROXY: Type.String({ default: 'false', description: 'true, false, a hop count, or a comma list of proxy addresses/CIDRs' }),
  LOG_LEVEL: StringEnum(LOG_LEVELS, 'info'),
  DATA_DIR: Type.String({ default: '.data', minLength: 1 }),
  ARGON2_MEMORY_KIB: Type.Integer({ default: ARGON2_MIN.memoryCost, minimum: ARGON2_MIN.memoryCost }),
  ARGON2_TIME_COST: Type.Integer({ default: ARGON2_MIN.timeCost, minimum: ARGON2_MIN.timeCost }),
  ARGON2_PARALLELISM: Type.Integer({ default: ARGON2_MIN.parallelism, minimum: ARGON2_MIN.parallelism, maximum: 16 }),
  TOKEN_CACHE_SIZE: Type.Integer({ default: 10000, minimum: 0 }),
  SESSION_IDLE_TIMEOUT: DurationString('7d', 'a session unused this long ends'),
  REFRESH_REUSE_INTERVAL: DurationString('0', 'a spent refresh token presented again within this interval is a retry'),
  PROPAGATION_POLL_INTERVAL: DurationString('1s', 'how often the state-change feed is polled')
})

type Env = Static<typeof EnvSchema>

export type JwtAlgorithm = Env['JWT_ALG']
export type LogLevel = Env['LOG_LEVEL']

export interface Config {
  host: string
  port: number
  mongodbUri?: string
  redisUrl?: string
  jwt: {
    issuer: string
    audience: string[]
    algorithm: JwtAlgorithm
    secret?: string
    /** seconds */
    accessTokenTtl: number
    /** seconds */
    refreshTokenTtl: number
  }
  lockout: { threshold: number, duration: number, maxDuration: number }
  throttleThreshold: number
  /** seconds */
  loginEventRetention: number
  registration: 'open' | 'closed'
  admin?: { username: string, password: string }
  /** Fastify's `trustProxy`: whether, how many hops, or which proxies to believe about X-Forwarded-For. */
  trustProxy: boolean | number | string[]
  logLevel: LogLevel
  dataDir: string
  argon2: { memoryCost: number, timeCost: number, parallelism: number }
  tokenCacheSize: number
  /** seconds */
  sessions: { idleTimeout: number, reuseInterval: number }
  /** seconds */
  propagation: { pollInterval: number }
}

/** A configuration problem: its message is one line naming the variable. */
export class ConfigError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

function duration (env: Env, name: keyof Env & string, minimum = 1): number {
  const seconds = parseDuration(String(env[name]))
  if (seconds === null || seconds < minimum) {
    throw new ConfigError(`${name} must be a duration of at least ${minimum}s such as 900, 900s, 15m, 12h or 30d (got "${String(env[name])}")`)
  }
  return seconds
}

const PROXY_ADDRESS = /^[0-9a-fA-F.:]+(\/\d{1,3})?$/

function trustProxy (value: string): boolean | number | string[] {
  const v = value.trim().toLowerCase()
  if (v === 'true') return true
  if (v === 'false' || v === '') return false
  if (/^\d+$/.test(v)) return Number(v)
  const addresses = v.split(',').map((a) => a.trim()).filter(Boolean)
  if (addresses.length > 0 && addresses.every((a) => PROXY_ADDRESS.test(a))) return addresses
  throw new ConfigError(`TRUST_PROXY must be true, false, a hop count or a comma list of proxy addresses (got "${value}")`)
}

function validate (source: Record<string, string | undefined>): Env {
  // Unset and empty mean the same thing for optional variables.
  const data = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''))
  try {
    return envSchema<Env>({ schema: structuredClone(EnvSchema), data, env: false, dotenv: false })
  } catch (err) {
    const first = (err as { errors?: Array<{ instancePath: string, message?: string, params?: Record<string, unknown> }> }).errors?.[0]
    if (first === undefined) throw new ConfigError((err as Error).message)
    const name = first.instancePath.replace(/^\//, '') || String(first.params?.missingProperty ?? 'configuration')
    const allowed = Array.isArray(first.params?.allowedValues) ? ` (${first.params.allowedValues.join(', ')})` : ''
    throw new ConfigError(`${name} ${first.message ?? 'is invalid'}${allowed} (got "${source[name] ?? ''}")`)
  }
}

/**
 * Reads the configuration from an environment (process.env in production), once.
 * Throws a ConfigError whose message names the offending variable.
 */
export function loadConfig (source: Record<string, string | undefined>): Config {
  const env = validate(source)

  if (env.JWT_ALG === 'HS256') {
    if (env.JWT_SECRET === undefined || Buffer.byteLength(env.JWT_SECRET) < 32) {
      throw new ConfigError('JWT_SECRET must be at least 32 bytes when JWT_ALG=HS256')
    }
  } else if (env.JWT_SECRET !== undefined) {
    throw new ConfigError(`JWT_SECRET is only used with JWT_ALG=HS256 (JWT_ALG is ${env.JWT_ALG}); unset it`)
  }
  if ((env.ADMIN_USERNAME === undefined) !== (env.ADMIN_PASSWORD === undefined)) {
    throw new ConfigError('ADMIN_USERNAME and ADMIN_PASSWORD must be set together')
  }

  const audience = env.JWT_AUDIENCE.split(',').map((a) => a.trim()).filter(Boolean)
  if (audience.length === 0) throw new ConfigError('JWT_AUDIENCE must name at least one audience')

  const lockoutDuration = duration(env, 'LOCKOUT_DURATION')
  const lockoutMaxDuration = duration(env, 'LOCKOUT_MAX_DURATION')
  if (lockoutMaxDuration < lockoutDuration) {
    throw new ConfigError('LOCKOUT_MAX_DURATION must not be shorter than LOCKOUT_DURATION')
  }

  return {
    host: env.HOST,
    port: env.PORT,
    mongodbUri: env.MONGODB_URI,
    redisUrl: env.REDIS_URL,
    jwt: {
      issuer: env.JWT_ISSUER,
      audience,
      algorithm: env.JWT_ALG,
      secret: env.JWT_SECRET,
      accessTokenTtl: duration(env, 'ACCESS_TOKEN_TTL'),
      refreshTokenTtl: duration(env, 'REFRESH_TOKEN_TTL')
    },
    lockout: { threshold: env.LOCKOUT_THRESHOLD, duration: lockoutDuration, maxDuration: lockoutMaxDuration },
    throttleThreshold: env.THROTTLE_THRESHOLD,
    loginEventRetention: duration(env, 'LOGIN_EVENT_RETENTION'),
    registration: env.REGISTRATION,
    admin: env.ADMIN_USERNAME !== undefined && env.ADMIN_PASSWORD !== undefined
      ? { username: env.ADMIN_USERNAME, password: env.ADMIN_PASSWORD }
      : undefined,
    trustProxy: trustProxy(env.TRUST_PROXY),
    logLevel: env.LOG_LEVEL,
    dataDir: env.DATA_DIR,
    argon2: { memoryCost: env.ARGON2_MEMORY_KIB, timeCost: env.ARGON2_TIME_COST, parallelism: env.ARGON2_PARALLELISM },
    tokenCacheSize: env.TOKEN_CACHE_SIZE,
    sessions: { idleTimeout: duration(env, 'SESSION_IDLE_TIMEOUT'), reuseInterval: duration(env, 'REFRESH_REUSE_INTERVAL', 0) },
    propagation: { pollInterval: duration(env, 'PROPAGATION_POLL_INTERVAL') }
  }
}
