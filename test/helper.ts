import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { importPKCS8, SignJWT, type JWTPayload } from 'jose'
import configPlugin from '../plugins/config'
import clockPlugin from '../plugins/clock'
import metricsPlugin from '../plugins/metrics'
import dbPlugin from '../plugins/db'
import { buildApp, type AppOptions } from '../src/app'
import { loadConfig } from '../src/config'
import { testDatabaseUri, dropTestDatabase } from './db'

/** The slice of a tap Test that the helpers use. */
export interface Teardown {
  teardown(fn: () => unknown): void
}

export const PASSWORD = 'correct horse battery staple'

/**
 * Settings of every test instance unless a test gives its own: quiet, and no shedding for
 * event-loop delay (several apps start in one test process on a busy machine; the tests of
 * load shedding set their thresholds).
 */
export const TEST_ENV = { LOG_LEVEL: 'silent', MAX_EVENT_LOOP_DELAY_MS: '0' }

/** A fresh Warden on a database of its own, closed (and the database dropped) after the test. */
export async function build (t: Teardown, env: Record<string, string> = {}, overrides: FastifyServerOptions = {}, options: Pick<AppOptions, 'clock'> = {}): Promise<FastifyInstance> {
  const mongodbUri = env.MONGODB_URI ?? testDatabaseUri()
  const config = loadConfig({ ...TEST_ENV, ...env })
  const app = await buildApp({ config, mongodbUri, ...options }, overrides)
  t.teardown(async () => {
    await app.close()
    if (env.MONGODB_URI === undefined) await dropTestDatabase(mongodbUri)
  })
  return app
}

export async function register (app: FastifyInstance, username = 'alice', password = PASSWORD) {
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { username, password } })
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`)
  return res.json<{ id: string, username: string, roles: string[] }>()
}

export interface Tokens {
  access_token: string
  token_type: string
  expires_in: number
  refresh_token: string
}

export async function login (app: FastifyInstance, username = 'alice', password = PASSWORD): Promise<Tokens> {
  const res = await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password } })
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return res.json<Tokens>()
}

/** Registers and logs in a user; returns their id and tokens. */
export async function signUp (app: FastifyInstance, username = 'alice') {
  const user = await register(app, username)
  return { user, tokens: await login(app, username) }
}

export function bearer (token: string) {
  return { authorization: `Bearer ${token}` }
}

export function decodePart (token: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[index], 'base64url').toString('utf8'))
}

/**
 * Signs a token with Warden's own private key (read from its database), as a stand-in for
 * time passing or for an insider with the key: lets tests choose `exp`, `iss`, `typ`...
 */
export async function forge (app: FastifyInstance, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const key = await app.signingKeys.get(app.tokens.kid)
  if (key?.privatePem == null) throw new Error('no signing key')
  const privateKey = await importPKCS8(key.privatePem, key.alg)
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({
    iss: app.config.jwt.issuer,
    aud: app.config.jwt.audience[0],
    iat: now,
    exp: now + 60,
    jti: 'forged',
    sid: 'forged-session',
    roles: ['user'],
    preferred_username: 'alice',
    ...claims
  }).setProtectedHeader({ alg: key.alg, typ: 'at+jwt', kid: key.kid, ...header }).sign(privateKey)
}

/**
 * A bare Fastify with only the configuration, clock and metrics plugins (and, when `withDatabase`, the db plugin on a
 * database of its own): for testing one plugin alone, as it would be registered by the app.
 */
export async function bare (t: Teardown, env: Record<string, string> = {}, database: boolean | string = false): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(configPlugin, { config: loadConfig({ ...TEST_ENV, ...env }) })
  await app.register(clockPlugin)
  await app.register(metricsPlugin)
  if (database !== false) {
    // a database of its own, or the one named (shared with another instance of the test)
    const uri = database === true ? testDatabaseUri() : database
    await app.register(dbPlugin, { uri })
    if (database === true) t.teardown(() => dropTestDatabase(uri))
  }
  t.teardown(() => app.close())
  return app
}

/** `Authorization: Basic` for a service client, form-encoding id and secret first (RFC 6749 2.3.1). */
export function basic (id: string, secret: string) {
  const encode = (s: string) => encodeURIComponent(s).replace(/%20/g, '+')
  return { authorization: `Basic ${Buffer.from(`${encode(id)}:${encode(secret)}`).toString('base64')}` }
}

/** A clock that moves only when told: pass it to `build` as `{ clock }` to test expiry without waiting. */
export function manualClock (start = Date.now()) {
  let now = start
  return {
    now: () => now,
    advance (ms: number) { now += ms }
  }
}

/** Polls `check` until it returns true; fails after `timeoutMs`. Returns the milliseconds it took. */
export async function eventually (check: () => Promise<boolean>, timeoutMs: number, what = 'condition'): Promise<number> {
  const start = Date.now()
  while (!await check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what} not met within ${timeoutMs} ms`)
    await new Promise((resolve) => { setTimeout(resolve, 10) })
  }
  return Date.now() - start
}

/** The value of one sample (`name{a="1",b="2"}`), labels given in any order; 0 when absent. */
export function sample (text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels)
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null || match[1] !== name) continue
    const have = new Map([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]))
    if (wanted.every(([k, v]) => have.get(k) === v) && have.size === wanted.length) return Number(match[3])
  }
  return 0
}
