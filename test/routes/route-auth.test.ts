import t from 'tap'
import Fastify, { type FastifyReply, type FastifyRequest, type HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import routeAuth from '../../routes/autohooks'
import adminGuard from '../../routes/admin/autohooks'
import errorHandler from '../../plugins/error-handler'
import { errors } from '../../src/errors'
import { DEFAULT_ROLES, missing, type Requirement } from '../../src/lib/rbac'
import { build, signUp, bearer } from '../helper'

t.test('a route that declares no auth stops the app from starting', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const starting = async () => {
    await app.register(async (routes) => {
      await routes.register(fp(routeAuth))
      routes.get('/forgotten', async () => 'open?')
    })
    await app.ready()
  }
  await t.rejects(starting, /GET \/forgotten declares no config.auth/)
})

t.test('a route under admin/ must ask for an admin permission', async (t) => {
  for (const auth of [true, false, { roles: ['user'] }, { permissions: ['users:read'] }]) {
    const app = Fastify()
    t.teardown(() => app.close())
    app.decorate('authenticate', (_req: unknown, _reply: unknown, done: () => void) => { done() })
    app.decorate('authorize', () => (_req: unknown, _reply: unknown, done: () => void) => { done() })
    const starting = async () => {
      await app.register(async (routes) => {
        await routes.register(fp(routeAuth))
        await routes.register(fp(adminGuard))
        routes.get('/admin/things', { config: { auth } }, async () => 'secret')
      })
      await app.ready()
    }
    await t.rejects(starting, /must require the admin role or an admin:\* permission/, JSON.stringify(auth))
  }
})

t.test('declared guards cover HEAD as well as GET', async (t) => {
  const app = await build(t)
  const { tokens } = await signUp(app)
  t.equal((await app.inject({ method: 'HEAD', url: '/users/me' })).statusCode, 401)
  t.equal((await app.inject({ method: 'HEAD', url: '/users/me', headers: bearer(tokens.access_token) })).statusCode, 200)
})

t.test('roles and permissions declared by a route are enforced with 403 forbidden', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  // The real authorize check, behind a stand-in for token verification that takes roles from a header.
  app.decorateRequest('auth', null as unknown as FastifyRequest['auth'])
  app.decorate('authenticate', function (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) {
    request.auth = { roles: String(request.headers['x-roles']).split(',') } as FastifyRequest['auth']
    done()
  })
  app.decorate('authorize', function (requirement: Requirement) {
    return function (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) {
      const lacking = missing(requirement, request.auth.roles, DEFAULT_ROLES)
      if (lacking === undefined) done()
      else done(new errors.Forbidden(lacking))
    }
  })
  await app.register(errorHandler)
  await app.register(async (routes) => {
    await routes.register(fp(routeAuth))
    routes.get('/reports', { config: { auth: { permissions: ['admin:reports:read'] } } }, async () => ({ ok: true }))
  })
  const user = await app.inject({ url: '/reports', headers: { 'x-roles': 'user' } })
  t.equal(user.statusCode, 403)
  t.same(user.json(), { error: 'forbidden', message: 'This action requires the admin:reports:read permission' })
  t.equal((await app.inject({ url: '/reports', headers: { 'x-roles': 'user,admin' } })).statusCode, 200)
})
