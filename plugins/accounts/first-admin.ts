import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { localOrigin } from '../../src/lib/origin'
import { ADMIN_ROLE, DEFAULT_ROLE } from '../../src/lib/rbac'
import { SYSTEM_ACTOR } from '../login-events'
import '../config'
import '../stores/users'
import './registration'

/** With ADMIN_USERNAME and ADMIN_PASSWORD set and no admin in the database, creates one at start. */
async function firstAdmin (fastify: FastifyInstance): Promise<void> {
  const admin = fastify.config.admin
  if (admin === undefined || await fastify.users.existsWithRole(ADMIN_ROLE)) return
  try {
    await fastify.registration.create({ ...admin, roles: [ADMIN_ROLE, DEFAULT_ROLE] }, localOrigin('warden start (ADMIN_USERNAME)'), SYSTEM_ACTOR)
    fastify.log.info({ username: admin.username }, 'created the initial admin account')
  } catch (err) {
    throw new Error(`ADMIN_USERNAME/ADMIN_PASSWORD: cannot create the initial admin: ${(err as Error).message}`)
  }
}

export default fp(firstAdmin, { name: 'first-admin', fastify: '5.x', dependencies: ['config', 'users-store', 'registration'] })
