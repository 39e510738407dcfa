import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Origin } from '../../src/lib/origin'
import '../account-state'
import '../login-events'
import '../stores/users'
import './profiles'

export interface Administration {
  /**
   * Deletes an account. Its sessions are revoked first, like a logout-all, so that no access
   * token of the deleted user passes anywhere; its login events stay until retention ends.
   * False when there is no such user.
   */
  remove(userId: string, origin: Origin, actorId?: string): Promise<boolean>
}

declare module 'fastify' {
  interface FastifyInstance {
    administration: Administration
  }
}

/** Operations on other people's accounts (the admin API and the CLI). */
async function administration (fastify: FastifyInstance): Promise<void> {
  const { users, accountState, profiles } = fastify

  fastify.decorate('administration', {
    async remove (userId: string, _origin: Origin, _actorId?: string) {
      const user = await users.findById(userId)
      if (user === null) return false
      await accountState.revokeUser(userId)
      profiles.forget(userId)
      return users.remove(userId)
    }
  } satisfies Administration)
}

export default fp(administration, {
  name: 'administration',
  fastify: '5.x',
  dependencies: ['account-state', 'login-events', 'users-store', 'profiles']
})
