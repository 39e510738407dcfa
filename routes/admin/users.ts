import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { originOf } from '../../src/lib/origin'
import { ADMIN_PERMISSIONS as can } from '../../src/lib/rbac'
import { AdminUser, CreateUserBody, LockBody, UpdateUserBody, UserListQuery, UserPage, UserParams } from '../../src/schemas/admin'
import { bearer, Empty, OPTIONAL_BODY, responses } from '../../src/schemas/common'
import type { Actor } from '../../plugins/accounts/administration'

/** The signed-in administrator, as the actor of what they do. */
const actor = (request: FastifyRequest): Actor => ({ id: request.auth.userId, roles: request.auth.roles })

const tags = ['admin']

/** Account management for administrators: each route declares the admin permission it needs. */
const users: FastifyPluginAsyncTypebox = async (fastify) => {
  const { administration } = fastify

  fastify.get('/admin/users', {
    config: { auth: { permissions: [can.usersRead] } },
    schema: {
      tags,
      summary: 'List accounts in username order, one page at a time',
      description: 'Filters combine: `q` (part of the username, case-insensitive), `locked`, `role`. Follow `next_cursor` for the next page.',
      security: bearer,
      querystring: UserListQuery,
      response: responses({ 200: UserPage }, 400, 401, 403)
    }
  }, async (request) => administration.list(request.query))

  fastify.post('/admin/users', {
    config: { auth: { permissions: [can.usersCreate] } },
    schema: {
      tags,
      summary: 'Create an account (even while registration is closed)',
      description: 'Granting a role needs every permission that role has.',
      security: bearer,
      body: CreateUserBody,
      response: responses({ 201: AdminUser }, 400, 401, 403, 409)
    }
  }, async (request, reply) => {
    const created = await administration.create(request.body, originOf(request), actor(request))
    return reply.code(201).send(created)
  })

  fastify.get('/admin/users/:id', {
    config: { auth: { permissions: [can.usersRead] } },
    schema: {
      tags,
      summary: 'One account',
      security: bearer,
      params: UserParams,
      response: responses({ 200: AdminUser }, 401, 403, 404)
    }
  }, async (request) => administration.get(request.params.id))

  fastify.patch('/admin/users/:id', {
    config: { auth: { permissions: [can.usersUpdate] } },
    schema: {
      tags,
      summary: 'Change the roles or email of an account',
      description: 'Taking a role away ends the user\'s sessions at once (their tokens stop working); added roles reach ' +
        'their tokens at the next refresh. The last unlocked admin cannot be demoted (409 `last_admin`).',
      security: bearer,
      params: UserParams,
      body: UpdateUserBody,
      response: responses({ 200: AdminUser }, 400, 401, 403, 404, 409)
    }
  }, async (request) => administration.update(request.params.id, request.body, originOf(request), actor(request)))

  fastify.delete('/admin/users/:id', {
    config: { auth: { permissions: [can.usersDelete] } },
    schema: {
      tags,
      summary: 'Delete an account',
      description: 'Its sessions end at once; its login events stay until retention ends. The last unlocked admin cannot be deleted (409 `last_admin`).',
      security: bearer,
      params: UserParams,
      response: responses({ 204: Empty }, 401, 403, 404, 409)
    }
  }, async (request, reply) => {
    await administration.remove(request.params.id, originOf(request), actor(request))
    return reply.code(204).send(null)
  })

  fastify.post('/admin/users/:id/lock', {
    config: { auth: { permissions: [can.usersLock] } },
    schema: {
      tags,
      summary: 'Lock an account',
      description: 'Its live tokens and its logins are refused with 403 `account_locked` until `until`, or until unlocked. ' +
        'An admin cannot lock themself (409 `cannot_lock_self`) nor the last unlocked admin (409 `last_admin`).',
      security: bearer,
      params: UserParams,
      body: LockBody,
      [OPTIONAL_BODY]: true,
      response: responses({ 200: AdminUser }, 400, 401, 403, 404, 409)
    },
    // Both fields are optional, so no body at all is a lock without note or end.
    preValidation: (request, reply, done) => {
      request.body ??= {}
      done()
    }
  }, async (request) => {
    const { reason, until } = request.body
    return administration.lock(request.params.id, { note: reason, until: until === undefined ? undefined : new Date(until) }, originOf(request), actor(request))
  })

  fastify.post('/admin/users/:id/unlock', {
    config: { auth: { permissions: [can.usersLock] } },
    schema: {
      tags,
      summary: 'Unlock an account, whatever locked it',
      security: bearer,
      params: UserParams,
      response: responses({ 200: AdminUser }, 401, 403, 404)
    }
  }, async (request) => administration.unlock(request.params.id, originOf(request), actor(request)))
}

export default users
