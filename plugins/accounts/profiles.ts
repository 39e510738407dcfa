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
  /**
   * The profile of a user; null when gone. A profile in the cache is answered at once, and read
   * again in the background once it is older than PROFILE_TTL_MS: a user seen by this instance
   * gets an answer while the database is away. A user not in the cache is read from the database.
   */
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

/** Profiles of signed-in users, kept in memory so that `/users/me` does not wait on the database. */
async function profiles (fastify: FastifyInstance): Promise<void> {
  const { users, log } = fastify
  const cache = new Map<string, { profile: Profile, until: number }>()
  /** Reads under way, one per user: many requests for a stale profile start one read. */
  const reading = new Map<string, Promise<Profile | null>>()
  fastify.addHook('onClose', async () => { await Promise.allSettled(reading.values()) })

  function read (userId: string): Promise<Profile | null> {
    let pending = reading.get(userId)
    if (pending === undefined) {
      pending = users.findById(userId).then((user) => {
        if (user !== null) return remember(user)
        cache.delete(userId)
        return null
      }).finally(() => { reading.delete(userId) })
      reading.set(userId, pending)
    }
    return pending
  }

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
      const hit = cache.get(userId)
      if (hit === undefined) return await read(userId)
      if (hit.until <= Date.now()) {
        read(userId).catch((err: Error) => { log.debug({ err: { message: err.message } }, 'profile not read again; the cached one is answered meanwhile') })
      }
      return hit.profile
    },
    cached,
    remember,
    forget (userId: string) { cache.delete(userId) }
  } satisfies Profiles)
}

export default fp(profiles, { name: 'profiles', fastify: '5.x', dependencies: ['users-store'] })
