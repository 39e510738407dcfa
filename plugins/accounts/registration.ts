import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { errors } from '../../src/errors'
import { checkUsername, normaliseUsername, usernameKey, usernameSkeleton } from '../../src/lib/username'
import { checkPassword, describePasswordProblem } from '../../src/lib/password-policy'
import type { Origin } from '../../src/lib/origin'
import { toProfile, type Profile } from './profiles'
import '../config'
import '../passwords'
import '../login-events'
import '../stores/users'
import '../stores/migrations'
import './profiles'

export interface NewAccount {
  username: string
  password: string
  email?: string
  roles?: string[]
}

export interface Registration {
  /** Self-service sign-up: refused while `REGISTRATION=closed`; always the `user` role. */
  signUp(input: Omit<NewAccount, 'roles'>, origin: Origin): Promise<Profile>
  /** An account made by an administrator, the CLI or the first-admin bootstrap: any roles, open or closed. */
  create(input: NewAccount, origin: Origin, actorId?: string): Promise<Profile>
}

declare module 'fastify' {
  interface FastifyInstance {
    registration: Registration
  }
}

/** Every registration rule in one place: registration open or closed, username and password policies, uniqueness. Records `register` events. */
async function registration (fastify: FastifyInstance): Promise<void> {
  const { users, passwords, loginEvents } = fastify

  async function create (input: NewAccount, origin: Origin, actorId?: string): Promise<Profile> {
    const name = normaliseUsername(input.username)
    if (name === null) {
      throw checkUsername(input.username) === 'mixed_scripts' ? new errors.UsernameMixesScripts() : new errors.InvalidUsername()
    }
    const problem = checkPassword(input.password, name.display)
    if (problem !== null) throw new errors.WeakPassword(describePasswordProblem(problem))

    const failed = async (err: Error): Promise<never> => {
      await loginEvents.record(origin, { type: 'register', outcome: 'failure', reason: 'username_taken', username: name.display, actorId })
      throw err
    }
    // The same name in another case, or one that looks like it: taken either way.
    if (await users.existsWithName(name.key, name.skeleton)) return failed(new errors.UsernameTaken())
    let user
    try {
      user = await users.create({
        username: name.display,
        usernameKey: name.key,
        usernameSkeleton: name.skeleton,
        email: input.email ?? null,
        passwordHash: await passwords.hash(input.password),
        roles: input.roles ?? ['user']
      })
    } catch (err) {
      if (err instanceof errors.UsernameTaken) return failed(err)
      throw err
    }
    await loginEvents.record(origin, { type: 'register', outcome: 'success', userId: user.id, username: user.username, actorId })
    return toProfile(user)
  }

  // Accounts stored before the look-alike rules get the case-folded key and the skeleton, once per
  // database: later starts do not scan the users again.
  await fastify.migrations.once('username-key-and-skeleton', () => users.backfillNames(
    (username) => ({ key: usernameKey(username), skeleton: usernameSkeleton(username) }),
    (id) => fastify.log.warn({ userId: id }, 'this account\'s username collides with another one under the current username rules; left unchanged')
  ))

  fastify.decorate('registration', {
    async signUp (input: Omit<NewAccount, 'roles'>, origin: Origin) {
      if (fastify.config.registration === 'closed') throw new errors.RegistrationClosed()
      return create({ username: input.username, password: input.password, email: input.email }, origin)
    },
    create
  } satisfies Registration)
}

export default fp(registration, {
  name: 'registration',
  fastify: '5.x',
  dependencies: ['config', 'passwords', 'login-events', 'users-store', 'migrations-store', 'profiles']
})
