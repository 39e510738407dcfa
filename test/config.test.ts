import t from 'tap'
import { loadConfig, ConfigError } from '../src/config'

t.test('defaults match the contract', async (t) => {
  const c = loadConfig({})
  t.match(c, {
    host: '127.0.0.1',
    port: 3000,
    mongodbUri: undefined,
    jwt: { issuer: 'http://localhost:3000', audience: ['warden'], algorithm: 'RS256', accessTokenTtl: 900, refreshTokenTtl: 2592000 },
    lockout: { threshold: 10, duration: 900 },
    throttleThreshold: 5,
    loginEventRetention: 90 * 86400,
    registration: 'open',
    trustProxy: false,
    logLevel: 'info',
    argon2: { memoryCost: 19456, timeCost: 2, parallelism: 1 },
    sessions: { idleTimeout: 7 * 86400, reuseInterval: 0 },
    propagation: { pollInterval: 1 },
    metrics: { allow: [] },
    loadShedding: { maxEventLoopDelayMs: 1000, maxHeapUsedMb: undefined }
  })
})

t.test('METRICS_ALLOW: any, or addresses and CIDRs of both families', async (t) => {
  t.equal(loadConfig({ METRICS_ALLOW: 'any' }).metrics.allow, 'any')
  t.equal(loadConfig({ METRICS_ALLOW: ' ANY ' }).metrics.allow, 'any')
  t.same(loadConfig({ METRICS_ALLOW: '10.0.0.0/8, 192.0.2.7,fd00::/8, 2001:db8::1' }).metrics.allow, [
    { address: '10.0.0.0', prefix: 8, family: 'ipv4' },
    { address: '192.0.2.7', prefix: 32, family: 'ipv4' },
    { address: 'fd00::', prefix: 8, family: 'ipv6' },
    { address: '2001:db8::1', prefix: 128, family: 'ipv6' }
  ])
  t.same(loadConfig({ METRICS_ALLOW: '' }).metrics.allow, [], 'empty: loopback only')
})

t.test('load-shedding thresholds', async (t) => {
  t.same(loadConfig({ MAX_EVENT_LOOP_DELAY_MS: '250', MAX_HEAP_USED_MB: '1536' }).loadShedding, { maxEventLoopDelayMs: 250, maxHeapUsedMb: 1536 })
  t.same(loadConfig({ MAX_EVENT_LOOP_DELAY_MS: '0', MAX_HEAP_USED_MB: '0' }).loadShedding, { maxEventLoopDelayMs: 0, maxHeapUsedMb: 0 }, '0 turns a check off')
})

t.test('session and propagation durations', async (t) => {
  const c = loadConfig({ SESSION_IDLE_TIMEOUT: '12h', REFRESH_REUSE_INTERVAL: '10s', PROPAGATION_POLL_INTERVAL: '5' })
  t.same(c.sessions, { idleTimeout: 43200, reuseInterval: 10 })
  t.same(c.propagation, { pollInterval: 5 })
})

t.test('environment values are parsed', async (t) => {
  const c = loadConfig({ PORT: '8080', ACCESS_TOKEN_TTL: '5m', TRUST_PROXY: 'true', JWT_AUDIENCE: 'a,b', REGISTRATION: 'closed', MONGODB_URI: '' })
  t.equal(c.port, 8080)
  t.equal(c.jwt.accessTokenTtl, 300)
  t.equal(c.trustProxy, true)
  t.same(c.jwt.audience, ['a', 'b'])
  t.equal(c.registration, 'closed')
  t.equal(c.mongodbUri, undefined, 'empty means unset')
  t.equal(loadConfig({ TRUST_PROXY: '1' }).trustProxy, 1, 'a hop count')
  t.same(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' }).trustProxy, ['10.0.0.0/8', '127.0.0.1'], 'proxy addresses')
})

t.test('a bad value is one line naming the variable', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'abc' }, /^PORT /],
    [{ PORT: '70000' }, /^PORT /],
    [{ JWT_ALG: 'none' }, /^JWT_ALG .*RS256/],
    [{ JWT_ALG: 'HS256' }, /^JWT_SECRET must be at least 32 bytes/],
    [{ JWT_ALG: 'HS256', JWT_SECRET: 'secret_key' }, /^JWT_SECRET must be at least 32 bytes/],
    [{ JWT_SECRET: 'x'.repeat(40) }, /^JWT_SECRET is only used with JWT_ALG=HS256/],
    [{ ACCESS_TOKEN_TTL: '15 minutes' }, /^ACCESS_TOKEN_TTL must be a duration/],
    [{ LOCKOUT_DURATION: '0' }, /^LOCKOUT_DURATION must be a duration/],
    [{ LOCKOUT_DURATION: '2d', LOCKOUT_MAX_DURATION: '1d' }, /^LOCKOUT_MAX_DURATION/],
    [{ MONGODB_URI: 'postgres://x' }, /^MONGODB_URI /],
    [{ REGISTRATION: 'maybe' }, /^REGISTRATION /],
    [{ ADMIN_USERNAME: 'root' }, /^ADMIN_USERNAME and ADMIN_PASSWORD/],
    [{ ARGON2_MEMORY_KIB: '4096' }, /^ARGON2_MEMORY_KIB must be >= 19456/],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL /],
    [{ TRUST_PROXY: 'perhaps' }, /^TRUST_PROXY must be true, false/],
    [{ LOCKOUT_MAX_TEMPORARY: '0' }, /^LOCKOUT_MAX_TEMPORARY /],
    [{ THROTTLE_DELAY: '1m', THROTTLE_MAX_DELAY: '30s' }, /^THROTTLE_MAX_DELAY must not be shorter/],
    [{ THROTTLE_WINDOW: 'soon' }, /^THROTTLE_WINDOW must be a duration/],
    [{ RATE_LIMIT_MAX: '-1' }, /^RATE_LIMIT_MAX /],
    [{ KNOWN_DEVICES: 'yes' }, /^KNOWN_DEVICES .*true, false/],
    [{ NOTIFIER: 'smtp' }, /^NOTIFIER=smtp needs SMTP_URL and MAIL_FROM/],
    [{ NOTIFIER: 'pigeon' }, /^NOTIFIER .*log, smtp/],
    [{ SMTP_URL: 'http://mail' }, /^SMTP_URL /],
    [{ SESSION_IDLE_TIMEOUT: '0' }, /^SESSION_IDLE_TIMEOUT must be a duration/],
    [{ REFRESH_REUSE_INTERVAL: '-1' }, /^REFRESH_REUSE_INTERVAL must be a duration/],
    [{ PROPAGATION_POLL_INTERVAL: '0' }, /^PROPAGATION_POLL_INTERVAL must be a duration/],
    [{ PROPAGATION_POLL_INTERVAL: '500ms' }, /^PROPAGATION_POLL_INTERVAL must be a duration/],
    [{ METRICS_ALLOW: 'everyone' }, /^METRICS_ALLOW must be "any" or a comma list of addresses or CIDRs/],
    [{ METRICS_ALLOW: '10.0.0.0/33' }, /^METRICS_ALLOW must be/],
    [{ METRICS_ALLOW: '10.0.0.1, example.com' }, /^METRICS_ALLOW must be/],
    [{ METRICS_ALLOW: 'fd00::/129' }, /^METRICS_ALLOW must be/],
    [{ METRICS_ALLOW: ',' }, /^METRICS_ALLOW must be/],
    [{ MAX_EVENT_LOOP_DELAY_MS: '-1' }, /^MAX_EVENT_LOOP_DELAY_MS must be >= 0/],
    [{ MAX_EVENT_LOOP_DELAY_MS: '1s' }, /^MAX_EVENT_LOOP_DELAY_MS must be integer/],
    [{ MAX_HEAP_USED_MB: 'lots' }, /^MAX_HEAP_USED_MB must be integer/]
  ]
  for (const [env, message] of cases) {
    t.throws(() => loadConfig(env), ConfigError, JSON.stringify(env))
    try {
      loadConfig(env)
    } catch (err) {
      t.match((err as Error).message, message, JSON.stringify(env))
      t.notMatch((err as Error).message, /\n/, 'one line')
    }
  }
})

t.test('brute-force settings: defaults and values', async (t) => {
  const d = loadConfig({})
  t.same(d.lockout, { threshold: 10, duration: 900, maxDuration: 86400, maxTemporary: undefined })
  t.same(d.throttle, { window: 900, delay: 30, maxDelay: 900 })
  t.same(d.rateLimit, { window: 60, max: 60000, authMax: 100 })
  t.same(d.knownDevices, { enabled: true, ttl: 90 * 86400 })
  t.same(d.notifier, { transport: 'log', smtpUrl: undefined, mailFrom: undefined })
  t.equal(d.unlockUrl, 'http://localhost:3000/auth/unlock', 'unlock links point at this service by default')
  const c = loadConfig({ LOCKOUT_MAX_TEMPORARY: '3', KNOWN_DEVICES: 'false', NOTIFIER: 'smtp', SMTP_URL: 'smtp://127.0.0.1:2525', MAIL_FROM: 'warden@example.com', JWT_ISSUER: 'https://auth.example.com/' })
  t.equal(c.lockout.maxTemporary, 3)
  t.equal(c.knownDevices.enabled, false)
  t.same(c.notifier, { transport: 'smtp', smtpUrl: 'smtp://127.0.0.1:2525', mailFrom: 'warden@example.com' })
  t.equal(c.unlockUrl, 'https://auth.example.com/auth/unlock')
})

t.test('a rejected secret is not echoed back', async (t) => {
  try {
    loadConfig({ JWT_ALG: 'HS256', JWT_SECRET: 'secret_key' })
    t.fail('should throw')
  } catch (err) {
    t.notMatch((err as Error).message, 'secret_key')
  }
})

t.test('RBAC_FILE replaces the built-in role map; a bad file is one line naming it', async (t) => {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const dir = mkdtempSync(join(tmpdir(), 'warden-config-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text)
    return join(dir, name)
  }

  t.same(loadConfig({}).roles, { admin: ['admin:*'], user: [] }, 'built-in map')
  t.same(loadConfig({ RBAC_FILE: file('rbac.yaml', 'admin: ["admin:*"]\nuser: []\nsupport: ["admin:users:read"]\n') }).roles.support, ['admin:users:read'])
  t.same(loadConfig({ RBAC_FILE: file('rbac.json', '{"admin": ["admin:*"], "user": ["reports:read"]}') }).roles.user, ['reports:read'])

  const cases: Array<[string, RegExp]> = [
    [join(dir, 'missing.yaml'), /^RBAC_FILE cannot be read: ENOENT/],
    [file('syntax.yaml', 'admin: [\n'), /^RBAC_FILE .*syntax\.yaml: .*line/],
    [file('shape.json', '{"admin": ["admin:*"]}'), /^RBAC_FILE .*shape\.json: must define the "user" role/]
  ]
  for (const [path, message] of cases) {
    t.throws(() => loadConfig({ RBAC_FILE: path }), ConfigError)
    try {
      loadConfig({ RBAC_FILE: path })
    } catch (err) {
      t.match((err as Error).message, message, path)
      t.notMatch((err as Error).message, /\n/, 'one line')
    }
  }
})
