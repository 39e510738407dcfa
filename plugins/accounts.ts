import fp from 'fastify-plugin'
import { isValidObjectId, trusted } from 'mongoose'
import type { FastifyInstance } from 'fastify'
import { errors } from '../src/errors'
import { checkUsername, normaliseUsername, usernameKey, usernameSkeleton } from '../src/lib/username'
import { checkPassword, describePasswordProblem } from '../src/lib/password-policy'
import { localOrigin, type Origin } from '../src/lib/origin'
import { newSessionId } from './sessions'
import './config'
import './db'
import './passwords'
import './tokens'
import './account-state'
import './login-events'

/** A user as the API shows it. */
export interface Profile {
  id: string
  username: string
  roles: string[]
  created_at: string
  last_login_at: string | null
}

export interface LoginResult {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  refresh_token: string
}

export interface NewAccount {
  username: string
  password: string
  email?: string
  roles?: string[]
}

export interface Accounts {
  /** Creates a user after the username and password policies; records a `register` event. */
  register(input: NewAccount, origin: Origin, actorId?: string): Promise<Profile>
  /** Checks credentials and opens a session; records a `login` event either way. */
  login(username: string, password: string, origin: Origin): Promise<LoginResult>
  /** The profile of a user, answered from a short-lived in-memory cache; null when gone. */
  profile(userId: string): Promise<Profile | null>
  /** The cached profile when there is a fresh one: lets hot routes answer synchronously. */
  cachedProfile(userId: string): Profile | undefined
}

declare module 'fastify' {
  interface FastifyInstance {
    accounts: Accounts
  }
}

/** How long a profile may be served from memory before it is read again. */
const PROFILE_TTL_MS = 10_000
const PROFILE_CACHE_SIZE = 10_000

interface UserRecord {
  _id: unknown
  username: string
  roles: string[]
  created_at: Date
  last_login_at?: Date | null
}

function toProfile (user: UserRecord): Profile {
  return {
    id: String(user._id),
    username: user.username,
    roles: user.roles,
    created_at: user.created_at.toISOString(),
    last_login_at: user.last_login_at ? user.last_login_at.toISOString() : null
  }
}

async function accounts (fastify: FastifyInstance): Promise<void> {
  const { db, passwords, tokens, accountState, sessions, loginEvents } = fastify
  const { users } = db
  const profiles = new Map<string, { profile: Profile, until: number }>()

  function remember (profile: Profile): void {
    if (profiles.size >= PROFILE_CACHE_SIZE) profiles.delete(profiles.keys().next().value as string)
    profiles.set(profile.id, { profile, until: Date.now() + PROFILE_TTL_MS })
  }

  async function register (input: NewAccount, origin: Origin, actorId?: string): Promise<Profile> {
    const name = normaliseUsername(input.username)
    if (name === null) {
      throw checkUsername(input.username) === 'mixed_scripts' ? new errors.UsernameMixesScripts() : new errors.InvalidUsername()
    }
    const weakness = checkPassword(input.password, name.display)
    if (weakness !== null) throw new errors.WeakPassword(describePasswordProblem(weakness))

    const taken = async (): Promise<never> => {
      await loginEvents.record(origin, { type: 'register', outcome: 'failure', reason: 'username_taken', username: name.display, actorId })
      throw new errors.UsernameTaken()
    }
    // The same name in another case, or one that looks like it: taken either way.
    if (await users.exists({ $or: [{ username_key: name.key }, { username_skeleton: name.skeleton }] }) !== null) return taken()

    let user
    try {
      user = await users.create({
        username: name.display,
        username_key: name.key,
        username_skeleton: name.skeleton,
        email: input.email ?? null,
        password_hash: await passwords.hash(input.password),
        roles: input.roles ?? ['user']
      })
    } catch (err) {
      if ((err as { code?: number }).code === 11000) return taken()
      throw err
    }
    await loginEvents.record(origin, { type: 'register', outcome: 'success', userId: String(user._id), username: user.username, actorId })
    return toProfile(user)
  }

  async function login (username: string, password: string, origin: Origin): Promise<LoginResult> {
    const user = await users.findOne({ username_key: usernameKey(username) }).lean()
    if (user === null) {
      await passwords.verifyDummy(password)
      await loginEvents.record(origin, { type: 'login', outcome: 'failure', reason: 'unknown_user', username })
      throw new errors.InvalidCredentials()
    }
    const userId = String(user._id)
    if (!await passwords.verify(user.password_hash, password)) {
      await loginEvents.record(origin, { type: 'login', outcome: 'failure', reason: 'bad_password', userId, username: user.username })
      throw new errors.InvalidCredentials()
    }
    if (accountState.isLocked(userId) || (user.locked_until != null && user.locked_until.getTime() > Date.now())) {
      await loginEvents.record(origin, { type: 'login', outcome: 'failure', reason: 'account_locked', userId, username: user.username })
      throw new errors.AccountLocked()
    }

    const sessionId = newSessionId()
    const now = new Date()
    const update: Record<string, unknown> = { last_login_at: now }
    if (passwords.needsRehash(user.password_hash)) update.password_hash = await passwords.hash(password)
    const access = tokens.issueAccessToken({ id: userId, username: user.username, roles: user.roles }, sessionId)
    const [session] = await Promise.all([
      sessions.create(userId, origin, sessionId),
      users.updateOne({ _id: user._id }, { $set: update }),
      loginEvents.record(origin, { type: 'login', outcome: 'success', userId, username: user.username, sessionId })
    ])
    remember(toProfile({ ...user, last_login_at: now }))
    return { access_token: access.token, token_type: 'Bearer', expires_in: access.expiresIn, refresh_token: session.refreshToken }
  }

  function cachedProfile (userId: string): Profile | undefined {
    const cached = profiles.get(userId)
    return cached !== undefined && cached.until > Date.now() ? cached.profile : undefined
  }

  async function profile (userId: string): Promise<Profile | null> {
    const cached = cachedProfile(userId)
    if (cached !== undefined) return cached
    if (!isValidObjectId(userId)) return null
    const user = await users.findById(userId, { username: 1, roles: 1, created_at: 1, last_login_at: 1 }).lean()
    if (user === null) {
      profiles.delete(userId)
      return null
    }
    const fresh = toProfile(user)
    remember(fresh)
    return fresh
  }

  fastify.decorate('accounts', { register, login, profile, cachedProfile } satisfies Accounts)

  /**
   * Accounts stored before the look-alike rules have no skeleton and a lower-cased (not
   * case-folded) key: both are computed once, here, so that they log in with the folded name and
   * their look-alikes are refused. One that now collides with another account is left as it was.
   */
  for await (const user of users.find({ username_skeleton: trusted({ $exists: false }) }, { username: 1 }).lean().cursor()) {
    try {
      await users.updateOne({ _id: user._id }, { $set: { username_key: usernameKey(user.username), username_skeleton: usernameSkeleton(user.username) } })
    } catch (err) {
      if ((err as { code?: number }).code !== 11000) throw err
      fastify.log.warn({ userId: String(user._id) }, 'this account\'s username collides with another one under the current username rules; left unchanged')
    }
  }

  const admin = fastify.config.admin
  if (admin !== undefined && await users.exists({ roles: 'admin' }) === null) {
    try {
      await register({ ...admin, roles: ['admin', 'user'] }, localOrigin('warden start (ADMIN_USERNAME)'))
      fastify.log.info({ username: admin.username }, 'created the initial admin account')
    } catch (err) {
      throw new Error(`ADMIN_USERNAME/ADMIN_PASSWORD: cannot create the initial admin: ${(err as Error).message}`)
    }
  }
}

export default fp(accounts, {
  name: 'accounts',
  fastify: '5.x',
  dependencies: ['config', 'db', 'passwords', 'tokens', 'account-state', 'sessions', 'login-events']
})
