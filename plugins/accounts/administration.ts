import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { errors } from '../../src/errors'
import type { Origin } from '../../src/lib/origin'
import { usernameKey } from '../../src/lib/username'
import { ADMIN_ROLE, DEFAULT_ROLE, permissionsOf, uncovered } from '../../src/lib/rbac'
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../../src/schemas/admin'
import { PERMANENT } from '../account-state'
import { CLI_ACTOR_ID } from '../login-events'
import type { UserRecord } from '../stores/users'
import type { NewAccount } from './registration'
import '../account-state'
import '../authenticate'
import '../stores/users'
import './profiles'
import './registration'

/** Who acts: an administrator through the API, or an operator through the CLI. */
export interface Actor {
  /** The administrator's user id; null for the CLI (an operator on the machine, `cli` in login events). */
  id: string | null
  /**
   * The administrator's roles: they may grant or take away only roles whose permissions they
   * hold themselves. Undefined for the CLI, which has the database and so every right.
   */
  roles?: readonly string[]
}

/** Who acted, as a login event records it: the administrator's id, or `cli`. */
function actorIdOf (actor: Actor): string {
  return actor.id ?? CLI_ACTOR_ID
}

/** An account as the admin API shows it: never a hash. */
export interface AdminUser {
  id: string
  username: string
  email: string | null
  roles: string[]
  created_at: string
  last_login_at: string | null
  locked: boolean
  /** When the lock ends; null while unlocked or for a lock without an end. */
  locked_until: string | null
  /** Why the account is locked (`admin`, or the automatic lock's reason); null while unlocked. */
  lock_reason: string | null
  /** The administrator's note given with the lock; null while unlocked. */
  lock_note: string | null
}

export interface UserPage {
  items: AdminUser[]
  /** Pass it as `cursor` for the next page; null on the last page. */
  next_cursor: string | null
}

export interface ListOptions {
  limit?: number
  cursor?: string
  /** A part of the username (compared case-insensitively). */
  q?: string
  role?: string
  locked?: boolean
}

export interface AccountChanges {
  /** The new roles, replacing the old (the `user` role is always kept). */
  roles?: string[]
  email?: string | null
}

export interface LockRequest {
  /** When the lock ends; omitted: until unlocked. */
  until?: Date
  /** A note for other administrators: why. */
  note?: string
}

export interface Administration {
  /** A page of accounts in username order, filtered. Throws BadRequest for a bad cursor. */
  list(options: ListOptions): Promise<UserPage>
  /** Throws NotFound. */
  get(userId: string): Promise<AdminUser>
  /** By username (case-insensitive) or id, for the CLI. Throws NotFound. */
  find(usernameOrId: string): Promise<AdminUser>
  /** Creates an account with the roles asked (refused beyond the actor's own permissions). */
  create(input: NewAccount, origin: Origin, actor: Actor): Promise<AdminUser>
  /**
   * Changes roles and email. A change that takes a role away revokes the user's sessions at
   * once; added roles reach the user's tokens at their next refresh. Throws LastAdmin,
   * UnknownRole, Forbidden (a role beyond the actor's permissions) or NotFound.
   */
  update(userId: string, changes: AccountChanges, origin: Origin, actor: Actor): Promise<AdminUser>
  /**
   * Deletes an account. Its sessions are revoked first, like a logout-all, so that no access
   * token of the deleted user passes anywhere; its login events stay until retention ends.
   * Throws LastAdmin or NotFound.
   */
  remove(userId: string, origin: Origin, actor: Actor): Promise<void>
  /** Locks an account (reason `admin`): its live tokens and its logins are refused. Throws CannotLockSelf, LastAdmin or NotFound. */
  lock(userId: string, request: LockRequest, origin: Origin, actor: Actor): Promise<AdminUser>
  /** Unlocks an account, whatever locked it. Throws NotFound. */
  unlock(userId: string, origin: Origin, actor: Actor): Promise<AdminUser>
  /** Ends every session of an account; returns how many were live. Throws NotFound. */
  revokeSessions(userId: string, origin: Origin, actor: Actor): Promise<number>
}

declare module 'fastify' {
  interface FastifyInstance {
    administration: Administration
  }
}

const OBJECT_ID = /^[0-9a-f]{24}$/i

function encodeCursor (key: string): string {
  return Buffer.from(JSON.stringify({ k: key })).toString('base64url')
}

function decodeCursor (cursor: string): string {
  try {
    const { k } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { k?: unknown }
    if (typeof k === 'string') return k
  } catch {
    // answered below
  }
  throw new errors.BadRequest('The cursor is invalid: pass the next_cursor of a previous page')
}

/** Operations on other people's accounts (the admin API and the CLI), each recorded as a login event with its actor. */
async function administration (fastify: FastifyInstance): Promise<void> {
  const { users, accountState, profiles, registration, loginEvents, roleMap } = fastify

  function view (user: UserRecord): AdminUser {
    const until = accountState.lockedUntil(user.id)
    const locked = until !== undefined
    return {
      id: user.id,
      username: user.username,
      email: user.email,
      roles: user.roles,
      created_at: user.createdAt.toISOString(),
      last_login_at: user.lastLoginAt === null ? null : user.lastLoginAt.toISOString(),
      locked,
      locked_until: locked && until < PERMANENT ? new Date(until).toISOString() : null,
      lock_reason: locked ? user.lockReason : null,
      lock_note: locked ? user.lockNote : null
    }
  }

  async function existing (userId: string): Promise<UserRecord> {
    const user = await users.findById(userId)
    if (user === null) throw new errors.NotFound('No such user')
    return user
  }

  /** The roles as stored: known to the role map, without repeats, `user` first. */
  function normaliseRoles (roles: readonly string[]): string[] {
    const unknown = roles.find((role) => roleMap[role] === undefined)
    if (unknown !== undefined) throw new errors.UnknownRole(unknown, Object.keys(roleMap).join(', '))
    return [...new Set([DEFAULT_ROLE, ...roles])]
  }

  /** Refuses to give or take away a role whose permissions the actor lacks (every account has the default role anyway). */
  function mayChange (actor: Actor, roles: readonly string[]): void {
    if (actor.roles === undefined) return
    const lacking = uncovered(permissionsOf(actor.roles, roleMap), roles.filter((role) => role !== DEFAULT_ROLE), roleMap)
    if (lacking !== undefined) throw new errors.Forbidden(`the ${lacking} permission`)
  }

  /** Whether another administrator who is not locked would remain without `userId`. */
  async function otherAdminRemains (userId: string): Promise<boolean> {
    return await users.countActiveWithRole(ADMIN_ROLE, new Date(), userId) > 0
  }

  /**
   * Writes new roles. When the admin role goes, checks before and after the write that an
   * unlocked administrator remains, and puts the role back if a concurrent change took the
   * last other one (there are no multi-document transactions to lean on).
   */
  async function writeRoles (user: UserRecord, roles: string[]): Promise<UserRecord> {
    const demoted = user.roles.includes(ADMIN_ROLE) && !roles.includes(ADMIN_ROLE)
    if (demoted && !await otherAdminRemains(user.id)) throw new errors.LastAdmin()
    const updated = await users.update(user.id, { roles })
    if (updated === null) throw new errors.NotFound('No such user')
    if (demoted && !await otherAdminRemains(user.id)) {
      await users.update(user.id, { roles: user.roles })
      throw new errors.LastAdmin()
    }
    return updated
  }

  /** Records a refused action, then throws its error. */
  async function refused (origin: Origin, type: 'admin_update' | 'admin_delete' | 'lock', user: UserRecord, actor: Actor, err: Error): Promise<never> {
    const reason = (err as { code?: string }).code?.replace(/^WARDEN_/, '').toLowerCase()
    await loginEvents.record(origin, { type, outcome: 'failure', reason, userId: user.id, username: user.username, actorId: actorIdOf(actor) })
    throw err
  }

  const guarded = (err: unknown): err is Error => err instanceof errors.LastAdmin || err instanceof errors.CannotLockSelf

  fastify.decorate('administration', {
    async list (options: ListOptions) {
      const limit = Math.min(Math.max(options.limit ?? DEFAULT_PAGE_SIZE, 1), MAX_PAGE_SIZE)
      const q = options.q === undefined ? '' : usernameKey(options.q)
      const found = await users.list({
        limit: limit + 1,
        afterKey: options.cursor === undefined ? undefined : decodeCursor(options.cursor),
        keyContains: q === '' ? undefined : q,
        role: options.role,
        locked: options.locked,
        now: new Date()
      })
      const page = found.slice(0, limit)
      return {
        items: page.map(view),
        next_cursor: found.length > limit ? encodeCursor(page[page.length - 1].usernameKey) : null
      }
    },

    async get (userId: string) {
      return view(await existing(userId))
    },

    async find (usernameOrId: string) {
      const user = await users.findByUsernameKey(usernameKey(usernameOrId)) ??
        (OBJECT_ID.test(usernameOrId) ? await users.findById(usernameOrId) : null)
      if (user === null) throw new errors.NotFound(`No such user: ${usernameOrId}`)
      return view(user)
    },

    async create (input: NewAccount, origin: Origin, actor: Actor) {
      const roles = normaliseRoles(input.roles ?? [])
      mayChange(actor, roles)
      const profile = await registration.create({ ...input, roles }, origin, actorIdOf(actor))
      return view(await existing(profile.id))
    },

    async update (userId: string, changes: AccountChanges, origin: Origin, actor: Actor) {
      let user = await existing(userId)
      const event = { userId: user.id, username: user.username, actorId: actorIdOf(actor) }
      if (changes.roles !== undefined) {
        const roles = normaliseRoles(changes.roles)
        const removed = user.roles.filter((role) => !roles.includes(role))
        const added = roles.filter((role) => !user.roles.includes(role))
        if (removed.length > 0 || added.length > 0) {
          mayChange(actor, [...removed, ...added])
          try {
            user = await writeRoles(user, roles)
          } catch (err) {
            if (guarded(err)) return refused(origin, 'admin_update', user, actor, err)
            throw err
          }
          // A role taken away must not outlive the tokens that carry it: end the sessions now.
          // Added roles reach the user's tokens at the next refresh (or login).
          if (removed.length > 0) await accountState.revokeUser(user.id)
          profiles.forget(user.id)
          await loginEvents.record(origin, { type: 'admin_update', outcome: 'success', reason: 'roles', ...event })
        }
      }
      if (changes.email !== undefined && changes.email !== user.email) {
        user = await users.update(user.id, { email: changes.email }) ?? user
        await loginEvents.record(origin, { type: 'admin_update', outcome: 'success', reason: 'email', ...event })
      }
      return view(user)
    },

    async remove (userId: string, origin: Origin, actor: Actor) {
      const user = await existing(userId)
      if (user.roles.includes(ADMIN_ROLE)) {
        try {
          await writeRoles(user, user.roles.filter((role) => role !== ADMIN_ROLE))
        } catch (err) {
          if (guarded(err)) return refused(origin, 'admin_delete', user, actor, err)
          throw err
        }
      }
      await accountState.revokeUser(userId)
      profiles.forget(userId)
      if (!await users.remove(userId)) throw new errors.NotFound('No such user')
      await loginEvents.record(origin, { type: 'admin_delete', outcome: 'success', userId: user.id, username: user.username, actorId: actorIdOf(actor) })
    },

    async lock (userId: string, request: LockRequest, origin: Origin, actor: Actor) {
      const user = await existing(userId)
      if (request.until !== undefined && request.until.getTime() <= Date.now()) throw new errors.BadRequest('until must be in the future')
      try {
        if (actor.id === user.id) throw new errors.CannotLockSelf()
        if (user.roles.includes(ADMIN_ROLE) && !await otherAdminRemains(user.id)) throw new errors.LastAdmin()
      } catch (err) {
        if (guarded(err)) return refused(origin, 'lock', user, actor, err)
        throw err
      }
      if (!await accountState.lock(user.id, { until: request.until, reason: 'admin' })) throw new errors.NotFound('No such user')
      const locked = await users.update(user.id, { lockNote: request.note ?? null }) ?? user
      await loginEvents.record(origin, { type: 'lock', outcome: 'success', reason: 'admin', userId: user.id, username: user.username, actorId: actorIdOf(actor) })
      return view(locked)
    },

    async unlock (userId: string, origin: Origin, actor: Actor) {
      const user = await existing(userId)
      if (!await accountState.unlock(user.id)) throw new errors.NotFound('No such user')
      const unlocked = await users.update(user.id, { lockNote: null }) ?? user
      await loginEvents.record(origin, { type: 'unlock', outcome: 'success', reason: 'admin', userId: user.id, username: user.username, actorId: actorIdOf(actor) })
      return view(unlocked)
    },

    async revokeSessions (userId: string, origin: Origin, actor: Actor) {
      const user = await existing(userId)
      const count = await accountState.revokeUser(user.id)
      await loginEvents.record(origin, { type: 'logout_all', outcome: 'success', reason: 'admin', userId: user.id, username: user.username, actorId: actorIdOf(actor) })
      return count
    }
  } satisfies Administration)
}

export default fp(administration, {
  name: 'administration',
  fastify: '5.x',
  dependencies: ['account-state', 'authenticate', 'login-events', 'users-store', 'profiles', 'registration']
})
