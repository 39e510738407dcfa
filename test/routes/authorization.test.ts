/**
 * The authorization matrix: every route of the app, called anonymously, by a plain user and by
 * an admin, against the status each must get. The routes are collected from the app itself at
 * start, so a route without a line here fails this test: when you add a route, add its line.
 */
import t from 'tap'
import Fastify, { type InjectOptions } from 'fastify'
import fp from 'fastify-plugin'
import app, { serverOptions } from '../../src/app'
import { loadConfig } from '../../src/config'
import { testDatabaseUri, dropTestDatabase } from '../db'
import { bearer, login, register, PASSWORD, TEST_ENV } from '../helper'
import { ROOT } from '../admin'

type Who = 'anonymous' | 'user' | 'admin'

interface Request {
  /** The path to call when the route's URL has a wildcard. */
  path?: string
  /** Which account `:id` names (default: `target`). */
  id?: 'target' | 'victim'
  payload?: object | ((who: Who) => object)
  /** The route ends the caller's session: user and admin log in afresh for it. */
  fresh?: true
}

/** method, route URL as registered, then the status for an anonymous caller, a plain user, an admin. */
type Line = [method: string, url: string, anonymous: number, user: number, admin: number, request?: Request]

const asUser = (who: Who) => ({ username: `new-${who}`, password: PASSWORD })

// One line per route. GET lines also cover the HEAD route Fastify adds beside them.
const MATRIX: Line[] = [
  ['POST', '/auth/register', 201, 201, 201, { payload: asUser }],
  ['POST', '/auth/login', 200, 200, 200, { payload: { username: 'alice', password: PASSWORD } }],
  ['GET', '/auth/verify', 401, 204, 204],
  ['POST', '/auth/unlock/request', 202, 202, 202, { payload: { username: 'alice' } }],
  ['POST', '/auth/unlock', 400, 400, 400, { payload: { token: 'not-a-token' } }],
  ['GET', '/auth/unlock', 200, 200, 200],
  ['GET', '/users/me', 401, 200, 200],
  ['GET', '/admin/users', 401, 403, 200],
  ['POST', '/admin/users', 401, 403, 201, { payload: (who) => ({ username: `made-by-${who}`, password: PASSWORD }) }],
  ['GET', '/admin/users/:id', 401, 403, 200],
  ['PATCH', '/admin/users/:id', 401, 403, 200, { payload: { email: 'target@example.com' } }],
  ['DELETE', '/admin/users/:id', 401, 403, 204, { id: 'victim' }],
  ['POST', '/admin/users/:id/lock', 401, 403, 200, { payload: {} }],
  ['POST', '/admin/users/:id/unlock', 401, 403, 200],
  ['GET', '/users/me/login-history', 401, 200, 200],
  ['GET', '/users/me/sessions', 401, 200, 200],
  // a session of somebody else's is not found
  ['DELETE', '/users/me/sessions/:id', 401, 404, 404],
  // a refresh token is its own credential: a bearer token is not one
  ['POST', '/auth/refresh', 401, 401, 401, { payload: { refresh_token: 'not-a-token' } }],
  ['POST', '/auth/password', 401, 400, 400, { payload: (who) => ({ current_password: who === 'admin' ? ROOT.password : PASSWORD, new_password: 'short' }) }],
  ['GET', '/admin/login-events', 401, 403, 200],
  ['GET', '/admin/login-events/export', 401, 403, 200],
  ['GET', '/.well-known/jwks.json', 200, 200, 200],
  ['GET', '/.well-known/oauth-authorization-server', 200, 200, 200],
  // service-client routes: a bearer token is not a client credential
  ['POST', '/oauth/introspect', 401, 401, 401, { payload: { token: 'x' } }],
  ['POST', '/oauth/revoke', 200, 200, 200, { payload: { token: 'not-a-token' } }],
  ['GET', '/oauth/revocations', 401, 401, 401],
  ['GET', '/health/live', 200, 200, 200],
  ['GET', '/health/ready', 200, 200, 200],
  // loopback (as inject calls from) reads the metrics, token or not
  ['GET', '/metrics', 200, 200, 200],
  ['GET', '/docs', 200, 200, 200],
  ['HEAD', '/docs/', 200, 200, 200],
  ['GET', '/docs/json', 200, 200, 200],
  ['GET', '/docs/yaml', 200, 200, 200],
  ['GET', '/docs/static/index.html', 302, 302, 302],
  ['GET', '/docs/static/swagger-initializer.js', 200, 200, 200],
  ['GET', '/docs/static/*', 200, 200, 200, { path: '/docs/static/swagger-ui.css' }],
  // last: they end sessions
  ['POST', '/auth/logout', 401, 204, 204, { fresh: true }],
  ['POST', '/auth/logout-all', 401, 204, 204, { fresh: true }]
]

const key = (method: string, url: string) => `${method} ${url}`

t.test('every route answers anonymous callers, plain users and admins as the matrix says', async (t) => {
  const config = loadConfig({ ...TEST_ENV, ADMIN_USERNAME: ROOT.username, ADMIN_PASSWORD: ROOT.password })
  const mongodbUri = testDatabaseUri()
  const fastify = Fastify(serverOptions(config))
  const routes = new Set<string>()
  fastify.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.add(key(method, route.url))
  })
  await fastify.register(fp(app, { name: 'warden' }), { config, mongodbUri })
  await fastify.ready()
  t.teardown(async () => {
    await fastify.close()
    await dropTestDatabase(mongodbUri)
  })

  // Every route has a line, and every line a route.
  const lines = new Set(MATRIX.map(([method, url]) => key(method, url)))
  const covered = (route: string) => lines.has(route) || (route.startsWith('HEAD ') && lines.has(route.replace(/^HEAD /, 'GET ')))
  t.same([...routes].filter((route) => !covered(route)), [], 'routes without a line in MATRIX (add one per new route)')
  t.same([...lines].filter((line) => !routes.has(line)), [], 'lines in MATRIX without a route')

  const ids = {
    target: (await register(fastify, 'target')).id,
    victim: (await register(fastify, 'victim')).id
  }
  await register(fastify, 'alice')
  const tokens: Record<Who, string | undefined> = {
    anonymous: undefined,
    user: (await login(fastify, 'alice')).access_token,
    admin: (await login(fastify, ROOT.username, ROOT.password)).access_token
  }

  for (const [method, url, ...rest] of MATRIX) {
    const [anonymous, user, admin, request = {}] = rest as [number, number, number, Request?]
    const expected: Record<Who, number> = { anonymous, user, admin }
    const path = request.path ?? url.replace(':id', ids[request.id ?? 'target'])
    const methods = method === 'GET' && routes.has(key('HEAD', url)) ? ['GET', 'HEAD'] : [method]
    for (const who of ['anonymous', 'user', 'admin'] as const) {
      for (const m of methods) {
        const payload = typeof request.payload === 'function' ? request.payload(who) : request.payload
        const token = request.fresh === true && who !== 'anonymous'
          ? (await (who === 'admin' ? login(fastify, ROOT.username, ROOT.password) : login(fastify, 'alice'))).access_token
          : tokens[who]
        const res = await fastify.inject({
          method: m as InjectOptions['method'],
          url: path,
          headers: token === undefined ? {} : bearer(token),
          ...(payload === undefined ? {} : { payload })
        })
        t.equal(res.statusCode, expected[who], `${m} ${url} as ${who}${res.statusCode >= 400 && m !== 'HEAD' ? `: ${res.body.slice(0, 200)}` : ''}`)
        if (res.statusCode === 401 && m !== 'HEAD') t.equal(res.json().error, url.startsWith('/oauth/') ? 'invalid_client' : url === '/auth/refresh' ? 'invalid_grant' : 'missing_token', `${m} ${url} as ${who}`)
        if (res.statusCode === 403 && m !== 'HEAD') t.equal(res.json().error, 'forbidden', `${m} ${url} as ${who}`)
      }
    }
  }
})
