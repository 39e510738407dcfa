import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { UserRecord } from '../stores/users'
import '../stores/users'

/** A user as the API shows it. */
export interface Profile {
  id: string
  username: string
  roles: string[]
  created_at: string
  last_login_at: string | null
}

export interface Profiles {
  /** The profile of a user, answered from a short-lived in-memory cache; null when gone. */
  get(userId: string): Promise<Profile | null>
  /** The cached profile when there is a fresh one: lets hot routes answer synchronously. */
  cached(userId: string): Profile | undefined
  /** Puts a user just read or written into the cache; returns its profile. */
  remember(user: UserRecord): Profile
  /** Drops a user from the cache (after a change the cache must not hide). */
  forget(userId: string): void
}

declare module 'fastify' {
  interface FastifyInstance {
    profiles: Profiles
  }
}

/** How long a profile may be served from memory before it is read again. */
const PROFILE_TTL_MS = 10_000
const PROFILE_CACHE_SIZE = 10_000

export function toProfile (user: UserRecord): Profile {
  return {
    id: user.id,
    username: user.username,
    roles: user.roles,
    created_at: user.createdAt.toISOString(),
    last_login_at: user.lastLoginAt === null ? null : user.lastLoginAt.toISOString()
  }
}

/** Profiles of signed-in users, cached briefly so that `/users/me` rarely waits on the database. */
async function profiles (fastify: FastifyInstance): Promise<void> {
  const { users } = fastify
  const cache = new Map<string, { profile: Profile, until: number }>()

  function remember (user: UserRecord): Profile {
    const profile = toProfile(user)
    if (cache.size >= PROFILE_CACHE_SIZE) cache.delete(cache.keys().next().value as string)
    cache.set(profile.id, { profile, until: Date.now() + PROFILE_TTL_MS })
    return profile
  }

  function cached (userId: string): Profile | undefined {
    const hit = cache.get(userId)
    return hit !== undefined && hit.until > Date.now() ? hit.profile : undefined
  }

  fastify.decorate('profiles', {
    async get (userId: string) {
      const hit = cached(userId)
      if (hit !== undefined) return hit
      const user = await users.findById(userId)
      if (user === null) {
        cache.delete(userId)
        return null
      }
      return remember(user)
    },
    cached,
    remember,
    forget (userId: string) { cache.delete(userId) }
  } satisfies Profiles)
}

export default fp(profiles, { name: 'profiles', fastify: '5.x', dependencies: ['users-store'] })
