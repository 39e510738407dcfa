/**
 * The world the hostile-input tests attack: a Warden with an admin, a user and a service client,
 * every operation of its OpenAPI document with a valid request for it, and a snapshot of
 * everything the service stores, to show that a refused request changed nothing.
 */
import { createHash } from 'node:crypto'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import type { RawResponse } from '../socket'
import { bearer, basic, decodePart, eventually, login, PASSWORD, register, type Teardown, type Tokens } from '../helper'
import { buildWithAdmin } from '../admin'

/** Rate limits off: hundreds of refused requests from one address must each reach the route. */
export const HOSTILE_ENV = { RATE_LIMIT_MAX: '0', RATE_LIMIT_AUTH_MAX: '0' }

export interface World {
  app: FastifyInstance
  admin: { id: string, token: string }
  /** The account the requests act on: registered, signed in twice (two sessions). */
  alice: Account
  client: { id: string, secret: string }
}

export interface Account { username: string, id: string, tokens: Tokens, spare: Tokens, spareSessionId: string }

/** Registers `username` and signs it in twice. */
export async function account (app: FastifyInstance, username: string): Promise<Account> {
  const { id } = await register(app, username)
  const tokens = await login(app, username)
  const spare = await login(app, username)
  return { username, id, tokens, spare, spareSessionId: decodePart(spare.access_token, 1).sid as string }
}

export async function buildWorld (t: Teardown, env: Record<string, string> = {}): Promise<World> {
  const { app, admin } = await buildWithAdmin(t, { ...HOSTILE_ENV, ...env })
  const alice = await account(app, 'alice')
  const created = await app.clients.create('hostile-tests')
  return { app, admin, alice, client: { id: created.client_id, secret: created.client_secret } }
}

/** One operation of the OpenAPI document and the inputs it takes. */
export interface Operation {
  method: string
  /** The document's path template (`/admin/users/{id}`). */
  template: string
  security: 'none' | 'bearer' | 'basic' | 'basic-optional'
  body: string[]
  /** body properties the document declares as arrays */
  arrays: string[]
  /** maxLength of each string property or parameter, by `carrier:name` */
  maxLengths: Record<string, number | undefined>
  /** string properties and parameters whose length nothing bounds (no maxLength, enum or bounded pattern) */
  unbounded: string[]
  query: string[]
  path: string[]
}

interface DocSchema { type?: string | string[], maxLength?: number, enum?: unknown[], pattern?: string, properties?: Record<string, DocSchema>, anyOf?: DocSchema[], items?: DocSchema }
interface DocOperation {
  security?: Array<Record<string, unknown>>
  parameters?: Array<{ in: string, name: string, schema?: DocSchema }>
  requestBody?: { content?: Record<string, { schema?: DocSchema }> }
  responses?: Record<string, { content?: Record<string, unknown> }>
}

const isString = (s: DocSchema | undefined): boolean => s?.type === 'string' || (s?.anyOf ?? []).some((a) => a.type === 'string')
const maxLengthOf = (s: DocSchema | undefined): number | undefined => s?.maxLength ?? (s?.anyOf ?? []).find((a) => a.maxLength !== undefined)?.maxLength
/** A pattern anchored at both ends without an open-ended repeat (`*`, `+`, `{n,}`) admits strings of a bounded length. */
const boundedPattern = (p: string | undefined): boolean => p !== undefined && p.startsWith('^') && p.endsWith('$') && !/[*+]|\{\d+,\}/.test(p)
const bounded = (s: DocSchema | undefined): boolean =>
  s !== undefined && (s.maxLength !== undefined || s.enum !== undefined || boundedPattern(s.pattern) || (s.anyOf !== undefined && s.anyOf.every((a) => a.type !== 'string' || bounded(a))))

/** Every operation of /docs/json except the event stream (it never ends) and the documentation itself. */
export async function operations (app: FastifyInstance): Promise<Operation[]> {
  const doc = (await app.inject('/docs/json')).json<{ paths: Record<string, Record<string, DocOperation>> }>()
  const ops: Operation[] = []
  for (const [template, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const types = Object.values(op.responses ?? {}).flatMap((r) => Object.keys(r.content ?? {}))
      if (types.includes('text/event-stream')) continue
      const schemes = (op.security ?? []).map((s) => Object.keys(s)[0])
      const security = schemes.includes('bearerAuth')
        ? 'bearer'
        : schemes.includes('clientBasic') ? (op.security?.some((s) => Object.keys(s).length === 0) === true ? 'basic-optional' : 'basic') : 'none'
      const bodySchema = op.requestBody?.content?.['application/json']?.schema
      const properties = bodySchema?.properties ?? {}
      const maxLengths: Record<string, number | undefined> = {}
      const unbounded: string[] = []
      const strings: Array<[string, DocSchema]> = [
        ...Object.entries(properties).map(([name, s]): [string, DocSchema] => [`body:${name}`, s]),
        ...(op.parameters ?? []).map((p): [string, DocSchema] => [`${p.in}:${p.name}`, p.schema ?? {}])
      ]
      for (const [where, s] of strings) {
        if (!isString(s)) continue
        maxLengths[where] = maxLengthOf(s)
        if (!bounded(s)) unbounded.push(where)
      }
      ops.push({
        method: method.toUpperCase(),
        template,
        security,
        body: Object.keys(properties),
        arrays: Object.entries(properties).filter(([, s]) => s.type === 'array').map(([name]) => name),
        maxLengths,
        unbounded,
        query: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
        path: (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name)
      })
    }
  }
  return ops
}

export const label = (op: Operation): string => `${op.method} ${op.template}`

/**
 * A valid value for every input the document names, by name (a path template gets its own when
 * the name means something else there). A name with no value here fails the suite: a new field
 * is attacked as soon as it is documented.
 */
export function samples (world: World): Record<string, unknown> {
  const future = new Date(Date.now() + 3_600_000).toISOString()
  return {
    'POST /auth/register': { username: 'mallory', password: PASSWORD, email: 'mallory@example.com' },
    'POST /auth/login': { username: world.alice.username, password: PASSWORD, device_token: 'd'.repeat(43) },
    'POST /auth/refresh': { refresh_token: world.alice.tokens.refresh_token },
    'POST /auth/logout': { refresh_token: world.alice.tokens.refresh_token },
    'POST /auth/password': { current_password: PASSWORD, new_password: 'a different long passphrase' },
    'POST /auth/unlock/request': { username: world.alice.username },
    'POST /auth/unlock': { token: 'u'.repeat(43) },
    'POST /oauth/introspect': { token: world.alice.tokens.access_token, token_type_hint: 'access_token' },
    'POST /oauth/revoke': { token: world.alice.tokens.refresh_token, token_type_hint: 'refresh_token' },
    'POST /admin/users': { username: 'trent', password: PASSWORD, email: 'trent@example.com', roles: ['user'] },
    'PATCH /admin/users/{id}': { roles: ['user', 'admin'], email: 'alice@example.com' },
    'POST /admin/users/{id}/lock': { reason: 'hostile', until: future },
    // query parameters, by name
    token: 'u'.repeat(43),
    limit: 5,
    cursor: undefined,
    type: 'login',
    outcome: 'success',
    q: 'al',
    locked: false,
    role: 'user',
    user_id: world.alice.id,
    username: world.alice.username,
    ip: '127.0.0.1',
    from: new Date(Date.now() - 3_600_000).toISOString(),
    to: future,
    format: 'ndjson',
    // path parameters, by template
    '/admin/users/{id}': world.alice.id,
    '/admin/users/{id}/lock': world.alice.id,
    '/admin/users/{id}/unlock': world.alice.id,
    '/users/me/sessions/{id}': world.alice.spareSessionId
  }
}

/**
 * The valid request of an operation: its credentials, path, query and body. `pathValue` replaces
 * the sample of its path parameter (already encoded as it goes in the path).
 */
export function validRequest (world: World, op: Operation, pathValue?: string): { url: string, headers: Record<string, string>, query: Record<string, string>, body?: Record<string, unknown> } {
  const values = samples(world)
  const headers: Record<string, string> = {}
  // The user's own token for the user's routes, the admin's for the admin's.
  if (op.security === 'bearer') Object.assign(headers, bearer(op.template.startsWith('/admin/') ? world.admin.token : world.alice.tokens.access_token))
  if (op.security === 'basic' || op.security === 'basic-optional') Object.assign(headers, basic(world.client.id, world.client.secret))
  let url = op.template
  for (const name of op.path) {
    const value = values[op.template]
    if (typeof value !== 'string') throw new Error(`no sample for path parameter ${name} of ${label(op)}`)
    url = url.replace(`{${name}}`, pathValue ?? value)
  }
  const query: Record<string, string> = {}
  for (const name of op.query) {
    if (!(name in values)) throw new Error(`no sample for query parameter ${name} of ${label(op)}`)
    if (values[name] !== undefined) query[name] = String(values[name])
  }
  if (op.body.length === 0) return { url, headers, query }
  const body = values[label(op)] as Record<string, unknown> | undefined
  if (body === undefined) throw new Error(`no sample body for ${label(op)}`)
  for (const name of op.body) if (!(name in body)) throw new Error(`no sample for body property ${name} of ${label(op)}`)
  return { url, headers, query, body: { ...body } }
}

/** A query string written by hand: `pairs` as given, each part already encoded. */
export function withQuery (url: string, pairs: string[]): string {
  return pairs.length === 0 ? url : `${url}?${pairs.join('&')}`
}

export const encodePairs = (query: Record<string, string>): string[] =>
  Object.entries(query).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)

export const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
export const JSON_TYPE = { 'content-type': 'application/json' }

/**
 * Everything Warden stores, as one digest per collection: equal snapshots mean no account,
 * session, token, lock, device or event was created, changed or removed. Login events are
 * counted as recorded (a busy database may take them a little later, from the spool).
 */
export async function snapshot (app: FastifyInstance): Promise<Record<string, string>> {
  const db = app.db.connection.db
  if (db === undefined) throw new Error('no database')
  const out: Record<string, string> = { 'login events recorded': String(app.loginEvents.stats().recorded) }
  for (const { name } of await db.listCollections({}, { nameOnly: true }).toArray()) {
    if (name === 'login_events') continue
    const docs = await db.collection(name).find({}).sort({ _id: 1 }).toArray()
    out[name] = `${docs.length}:${createHash('sha256').update(JSON.stringify(docs)).digest('hex').slice(0, 16)}`
  }
  return out
}

/** Waits until every login event recorded so far is in the database (written, or replayed from the spool). */
export async function eventsWritten (app: FastifyInstance): Promise<void> {
  await eventually(async () => {
    await app.loginEvents.flush()
    const stats = app.loginEvents.stats()
    return stats.buffered === 0 && stats.spoolDepth === 0
  }, 20_000, 'login events written')
}

/** Keys of `Object.prototype`, and a probe property: what a polluted prototype would change. */
export function prototypeState (): string {
  const probe = {} as Record<string, unknown>
  return JSON.stringify([Object.getOwnPropertyNames(Object.prototype).sort(), probe.polluted, probe.admin, probe.isAdmin, probe.roles])
}

const STACK = /\bat [\w.<>]+ \(|\bat (?:node:|\/)|\.(?:ts|js):\d+/

/**
 * A refusal in the contract's shape: a 4xx among `statuses` (any 4xx when omitted), a JSON body
 * of exactly `{error, message}` strings (plus nothing secret), no stack trace. Returns the body.
 */
export function refused (t: Test, res: Pick<LightMyRequestResponse, 'statusCode' | 'body' | 'headers'>, name: string, statuses?: number[], code?: string | RegExp): Record<string, unknown> {
  const ok = statuses === undefined ? res.statusCode >= 400 && res.statusCode < 500 : statuses.includes(res.statusCode)
  t.ok(ok, `${name}: ${res.statusCode}${ok ? '' : `, wanted ${statuses === undefined ? '4xx' : statuses.join('/')}: ${res.body.slice(0, 300)}`}`)
  let body: Record<string, unknown> = {}
  try {
    body = JSON.parse(res.body)
  } catch {
    t.fail(`${name}: the body is not JSON: ${res.body.slice(0, 200)}`)
    return body
  }
  const shaped = typeof body.error === 'string' && typeof body.message === 'string' && Object.keys(body).length === 2
  t.ok(shaped, `${name}: {error, message}${shaped ? '' : `, not ${res.body.slice(0, 300)}`}`)
  if (code !== undefined) {
    const matches = typeof code === 'string' ? body.error === code : code.test(String(body.error))
    t.ok(matches, `${name}: ${String(body.error)}${matches ? '' : `, wanted ${String(code)}`}`)
  }
  if (STACK.test(res.body)) t.fail(`${name}: a stack trace in the body: ${res.body.slice(0, 300)}`)
  t.match(String(res.headers['content-type']), /^application\/json/, `${name}: JSON`)
  return body
}

/** A raw response seen through `refused`: status, headers and body as inject would give them. */
export const asInjected = (res: RawResponse) => ({ statusCode: res.status, body: res.body, headers: res.headers })

/** A raw response that ends the connection cleanly: answered, and closed by the server. */
export function closedCleanly (t: Test, res: RawResponse, name: string) {
  t.equal(res.timedOut, false, `${name}: answered, not left hanging`)
  t.ok(res.closed, `${name}: the server closed the connection`)
  t.equal((res.received.match(/HTTP\/1\.1 \d{3}/g) ?? []).length, 1, `${name}: exactly one response`)
}

/** `app.inject` with the operation's method. */
export function send (app: FastifyInstance, op: Operation, options: Omit<InjectOptions, 'method'>) {
  return app.inject({ ...options, method: op.method as 'GET' })
}
