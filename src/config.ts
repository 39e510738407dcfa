import envSchema from 'env-schema'
import { Type, type Static } from '@sinclair/typebox'
import { readFileSync } from 'node:fs'
import { parseDuration } from './lib/duration'
import { parseAddressRules, type AddressRule } from './lib/address-list'
import { DEFAULT_ROLES, parseRoleMap, type RoleMap } from './lib/rbac'

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
  CLOCK_TOLERANCE: DurationString('30s', 'how far ahead a token\'s iat may be, and how much longer than ACCESS_TOKEN_TTL its lifetime'),
  LOCKOUT_THRESHOLD: Type.Integer({ default: 10, minimum: 1 }),
  LOCKOUT_DURATION: DurationString('15m', 'first automatic lock'),
  LOCKOUT_MAX_DURATION: DurationString('24h', 'longest automatic lock'),
  THROTTLE_THRESHOLD: Type.Integer({ default: 5, minimum: 1 }),
  LOCKOUT_MAX_TEMPORARY: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  THROTTLE_WINDOW: DurationString('15m', 'how long a (username, client IP) pair remembers its failures'),
  THROTTLE_DELAY: DurationString('30s', 'first Retry-After of a throttled pair'),
  THROTTLE_MAX_DELAY: DurationString('15m', 'longest Retry-After of a throttled pair'),
  RATE_LIMIT_WINDOW: DurationString('1m', 'rate-limit window'),
  RATE_LIMIT_MAX: Type.Integer({ default: 60000, minimum: 0 }),
  RATE_LIMIT_AUTH_MAX: Type.Integer({ default: 100, minimum: 0 }),
  KNOWN_DEVICES: StringEnum(['true', 'false'] as const, 'true'),
  DEVICE_TOKEN_TTL: DurationString('90d', 'how long an unused device token stays known'),
  NOTIFIER: StringEnum(['log', 'smtp'] as const, 'log'),
  SMTP_URL: Type.Optional(Type.String({ pattern: '^smtps?://' })),
  MAIL_FROM: Type.Optional(Type.String({ minLength: 3 })),
  UNLOCK_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
  LOGIN_EVENT_RETENTION: DurationString('90d', 'login history retention'),
  LOGIN_EVENT_DURABILITY: StringEnum(['batched', 'sync'] as const, 'batched'),
  LOGIN_EVENT_BATCH_MS: Type.Integer({ default: 5, minimum: 0, maximum: 1000 }),
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
  RBAC_FILE: Type.Optional(Type.String({ minLength: 1, description: 'role -> permissions map, JSON or YAML' })),
  KEY_ENCRYPTION_SECRET: Type.Optional(Type.String()),
  KEY_ROTATION_INTERVAL: Type.Optional(Type.String({ description: 'rotate the signing key this often (900, 900s, 15m, 12h, 30d)' })),
  REQUEST_TIMEOUT: DurationString('10s', 'time a client has to send a whole request, headers and body'),
  KEEP_ALIVE_TIMEOUT: DurationString('72s', 'how long an idle keep-alive connection is kept open'),
  DOCS: StringEnum(['on', 'off'] as const, 'on'),
  SESSION_IDLE_TIMEOUT: DurationString('7d', 'a session unused this long ends'),
  REFRESH_REUSE_INTERVAL: DurationString('0', 'a spent refresh token presented again within this interval is a retry'),
  PROPAGATION_POLL_INTERVAL: DurationString('1s', 'how often the state-change feed is polled'),
  METRICS_ALLOW: Type.Optional(Type.String({ description: '`any`, or a comma list of addresses/CIDRs that may read /metrics besides loopback' })),
  MAX_EVENT_LOOP_DELAY_MS: Type.Integer({ default: 1000, minimum: 0, description: 'mean event-loop delay above which requests are shed with 503; 0 turns it off' }),
  MAX_HEAP_USED_MB: Type.Optional(Type.Integer({ minimum: 0, description: 'heap used above which requests are shed with 503; unset: 90% of the heap limit; 0 turns it off' }))
})

type Env = Static<typeof EnvSchema>

/** Names of the environment variables Warden reads. */
export const ENV_VARIABLES = Object.keys(EnvSchema.properties) as ReadonlyArray<keyof Env>

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
    /** seconds: clock difference allowed between the instance that signed a token and the one checking it */
    clockTolerance: number
  }
  lockout: {
    threshold: number
    /** seconds */
    duration: number
    /** seconds */
    maxDuration: number
    /** automatic temporary locks before the next one is permanent; undefined: never permanent */
    maxTemporary?: number
  }
  throttleThreshold: number
  /** seconds */
  throttle: { window: number, delay: number, maxDelay: number }
  /** Requests per client address and window; 0 turns a tier off. `auth`: every POST under /auth/. */
  rateLimit: { window: number, max: number, authMax: number }
  knownDevices: { enabled: boolean, /** seconds */ ttl: number }
  notifier: { transport: 'log' | 'smtp', smtpUrl?: string, mailFrom?: string }
  /** Where unlock links point (`?token=...` is appended). */
  unlockUrl: string
  /** seconds */
  loginEventRetention: number
  /** `batched`: group commit (and the spool file when the database is away); `sync`: record() waits for the write. */
  loginEventDurability: 'batched' | 'sync'
  /** ms the first event of a batch waits for more (group commit window) */
  loginEventBatchMs: number
  registration: 'open' | 'closed'
  admin?: { username: string, password: string }
  /** Fastify's `trustProxy`: whether, how many hops, or which proxies to believe about X-Forwarded-For. */
  trustProxy: boolean | number | string[]
  logLevel: LogLevel
  dataDir: string
  argon2: { memoryCost: number, timeCost: number, parallelism: number }
  tokenCacheSize: number
  /** The role → permission map in force: RBAC_FILE's, or the built-in one. */
  roles: RoleMap
  signingKeys: {
    /** Encrypts private signing keys at rest (AES-256-GCM, key derived with scrypt); unset: stored as PEM. */
    encryptionSecret?: string
    /** seconds between automatic rotations; unset: only `warden keys rotate` rotates */
    rotationInterval?: number
  }
  /** seconds: a request whose headers and body have not all arrived by then is answered 408 */
  requestTimeout: number
  /** seconds: an idle keep-alive connection is closed after this */
  keepAliveTimeout: number
  /** whether /docs (the OpenAPI UI and document) is served */
  docs: boolean
  /** seconds */
  sessions: { idleTimeout: number, reuseInterval: number }
  /** seconds */
  propagation: { pollInterval: number }
  /** Who may read /metrics besides loopback addresses: everyone, or these addresses and subnets. */
  metrics: { allow: 'any' | AddressRule[] }
  /**
   * Thresholds above which requests are answered 503 (0: that check is off). `maxHeapUsedMb`
   * undefined: 90% of the V8 heap limit.
   */
  loadShedding: { maxEventLoopDelayMs: number, maxHeapUsedMb?: number }
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

/** The role map of RBAC_FILE, read and checked once; the built-in map when unset. */
function roleMap (file: string | undefined): RoleMap {
  if (file === undefined) return DEFAULT_ROLES
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(`RBAC_FILE cannot be read: ${(err as Error).message.split('\n')[0]}`)
  }
  try {
    return parseRoleMap(text)
  } catch (err) {
    throw new ConfigError(`RBAC_FILE ${file}: ${(err as Error).message}`)
  }
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

function metricsAllow (value: string | undefined): Config['metrics']['allow'] {
  if (value === undefined) return []
  if (value.trim().toLowerCase() === 'any') return 'any'
  const rules = parseAddressRules(value)
  if (rules === null) throw new ConfigError(`METRICS_ALLOW must be "any" or a comma list of addresses or CIDRs such as 10.0.0.0/8 (got "${value}")`)
  return rules
}

/** Minimum length of KEY_ENCRYPTION_SECRET, as for JWT_SECRET. */
const MIN_SECRET_BYTES = 32

function signingKeySettings (env: Env, accessTokenTtl: number): Config['signingKeys'] {
  const secret = env.KEY_ENCRYPTION_SECRET
  if (secret !== undefined && Buffer.byteLength(secret) < MIN_SECRET_BYTES) {
    throw new ConfigError(`KEY_ENCRYPTION_SECRET must be at least ${MIN_SECRET_BYTES} bytes (for example: openssl rand -base64 32)`)
  }
  if (env.KEY_ROTATION_INTERVAL === undefined) return { encryptionSecret: secret }
  if (env.JWT_ALG === 'HS256') {
    throw new ConfigError('KEY_ROTATION_INTERVAL does not apply to JWT_ALG=HS256 (the key is JWT_SECRET); unset it')
  }
  const rotationInterval = duration(env, 'KEY_ROTATION_INTERVAL')
  if (rotationInterval < accessTokenTtl) {
    throw new ConfigError(`KEY_ROTATION_INTERVAL must not be shorter than ACCESS_TOKEN_TTL (got "${env.KEY_ROTATION_INTERVAL}")`)
  }
  return { encryptionSecret: secret, rotationInterval }
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

  if (env.NOTIFIER === 'smtp' && (env.SMTP_URL === undefined || env.MAIL_FROM === undefined)) {
    throw new ConfigError('NOTIFIER=smtp needs SMTP_URL and MAIL_FROM')
  }
  const throttleDelay = duration(env, 'THROTTLE_DELAY')
  const throttleMaxDelay = duration(env, 'THROTTLE_MAX_DELAY')
  if (throttleMaxDelay < throttleDelay) {
    throw new ConfigError('THROTTLE_MAX_DELAY must not be shorter than THROTTLE_DELAY')
  }

  const audience = env.JWT_AUDIENCE.split(',').map((a) => a.trim()).filter(Boolean)
  if (audience.length === 0) throw new ConfigError('JWT_AUDIENCE must name at least one audience')

  const signingKeys = signingKeySettings(env, duration(env, 'ACCESS_TOKEN_TTL'))

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
      refreshTokenTtl: duration(env, 'REFRESH_TOKEN_TTL'),
      clockTolerance: duration(env, 'CLOCK_TOLERANCE', 0)
    },
    lockout: { threshold: env.LOCKOUT_THRESHOLD, duration: lockoutDuration, maxDuration: lockoutMaxDuration, maxTemporary: env.LOCKOUT_MAX_TEMPORARY },
    throttleThreshold: env.THROTTLE_THRESHOLD,
    throttle: { window: duration(env, 'THROTTLE_WINDOW'), delay: throttleDelay, maxDelay: throttleMaxDelay },
    rateLimit: { window: duration(env, 'RATE_LIMIT_WINDOW'), max: env.RATE_LIMIT_MAX, authMax: env.RATE_LIMIT_AUTH_MAX },
    knownDevices: { enabled: env.KNOWN_DEVICES === 'true', ttl: duration(env, 'DEVICE_TOKEN_TTL') },
    notifier: { transport: env.NOTIFIER, smtpUrl: env.SMTP_URL, mailFrom: env.MAIL_FROM },
    unlockUrl: env.UNLOCK_URL ?? `${env.JWT_ISSUER.replace(/\/+$/, '')}/auth/unlock`,
    loginEventRetention: duration(env, 'LOGIN_EVENT_RETENTION'),
    loginEventDurability: env.LOGIN_EVENT_DURABILITY,
    loginEventBatchMs: env.LOGIN_EVENT_BATCH_MS,
    registration: env.REGISTRATION,
    admin: env.ADMIN_USERNAME !== undefined && env.ADMIN_PASSWORD !== undefined
      ? { username: env.ADMIN_USERNAME, password: env.ADMIN_PASSWORD }
      : undefined,
    trustProxy: trustProxy(env.TRUST_PROXY),
    logLevel: env.LOG_LEVEL,
    dataDir: env.DATA_DIR,
    argon2: { memoryCost: env.ARGON2_MEMORY_KIB, timeCost: env.ARGON2_TIME_COST, parallelism: env.ARGON2_PARALLELISM },
    tokenCacheSize: env.TOKEN_CACHE_SIZE,
    roles: roleMap(env.RBAC_FILE),
    signingKeys,
    requestTimeout: duration(env, 'REQUEST_TIMEOUT'),
    keepAliveTimeout: duration(env, 'KEEP_ALIVE_TIMEOUT'),
    docs: env.DOCS === 'on',
    sessions: { idleTimeout: duration(env, 'SESSION_IDLE_TIMEOUT'), reuseInterval: duration(env, 'REFRESH_REUSE_INTERVAL', 0) },
    propagation: { pollInterval: duration(env, 'PROPAGATION_POLL_INTERVAL') },
    metrics: { allow: metricsAllow(env.METRICS_ALLOW) },
    loadShedding: { maxEventLoopDelayMs: env.MAX_EVENT_LOOP_DELAY_MS, maxHeapUsedMb: env.MAX_HEAP_USED_MB }
  }
}
