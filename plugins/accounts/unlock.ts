import fp from 'fastify-plugin'
import { background } from '../../src/lib/background'
import type { FastifyInstance } from 'fastify'
import { errors } from '../../src/errors'
import { usernameKey } from '../../src/lib/username'
import type { Origin } from '../../src/lib/origin'
import { AUTO_LOCK } from '../account-state'
import '../config'
import '../account-state'
import '../login-events'
import '../notifier'
import '../stores/users'
import '../stores/unlock-tokens'

export interface SelfServiceUnlock {
  /**
   * An owner asks for an unlock link. When the account is locked automatically and has an
   * e-mail address, a single-use link valid for UNLOCK_TOKEN_TTL_MS is sent. The work happens
   * after the caller has answered (the same answer, in the same time, whatever the case);
   * the promise is for tests and the shutdown, which wait for it.
   */
  request(username: string, origin: Origin): Promise<void>
  /** Spends an unlock token and unlocks its account; InvalidUnlockToken for a used, expired or unknown one. */
  redeem(token: string, origin: Origin): Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    selfServiceUnlock: SelfServiceUnlock
  }
}

/** How long an unlock link works. */
export const UNLOCK_TOKEN_TTL_MS = 30 * 60_000
/** At most one link per account in this interval, however often it is asked for. */
export const UNLOCK_LINK_INTERVAL_MS = 60_000

/**
 * The owner's way out of an automatic lock: a link by mail (through the notifier) that unlocks
 * the account once. Admin locks are the administrators' to lift and are never unlocked this way.
 */
async function selfServiceUnlock (fastify: FastifyInstance): Promise<void> {
  const { users, unlockTokens, accountState, loginEvents, notifier, config } = fastify

  const inBackground = background(fastify)

  function link (token: string): string {
    return `${config.unlockUrl}${config.unlockUrl.includes('?') ? '&' : '?'}token=${token}`
  }

  async function sendLink (username: string, origin: Origin): Promise<void> {
    const record = (outcome: 'success' | 'failure', reason: string, user?: { id: string, username: string }) =>
      loginEvents.record(origin, { type: 'unlock_request', outcome, reason, userId: user?.id ?? null, username: user?.username ?? username })
    const user = await users.findByUsernameKey(usernameKey(username))
    if (user === null) return record('failure', 'unknown_user')
    const lock = accountState.lockOf(user.id)
    if (lock === undefined) return record('failure', 'not_locked', user)
    if (lock.reason !== AUTO_LOCK) return record('failure', 'admin_lock', user)
    if (user.email === null) return record('failure', 'no_email', user)
    const now = new Date(Date.now())
    const token = await unlockTokens.create(user.id, now, new Date(now.getTime() + UNLOCK_TOKEN_TTL_MS), new Date(now.getTime() - UNLOCK_LINK_INTERVAL_MS))
    if (token === null) return record('failure', 'recently_sent', user)
    await notifier.send({
      kind: 'unlock_link',
      to: user.email,
      userId: user.id,
      subject: 'Unlock your account',
      text: [
        `Someone (hopefully you) asked to unlock the account "${user.username}" at ${config.jwt.issuer}.`,
        '',
        'To unlock it, open this link within 30 minutes (it works once):',
        link(token),
        '',
        'If you did not ask, ignore this message: the account stays locked until the lock ends.'
      ].join('\n')
    })
    await record('success', 'self_service', user)
  }

  fastify.decorate('selfServiceUnlock', {
    request (username: string, origin: Origin) {
      const task = sendLink(username, origin).catch((err: Error) => {
        fastify.log.error({ err }, 'an unlock request could not be handled')
      })
      inBackground(task)
      return task
    },
    async redeem (token: string, origin: Origin) {
      const now = new Date(Date.now())
      const spent = await unlockTokens.redeem(token, now)
      const user = spent.ok || spent.reason !== 'unknown' ? await users.findById(spent.userId) : null
      const fail = async (reason: string): Promise<never> => {
        if (user !== null) await loginEvents.record(origin, { type: 'unlock', outcome: 'failure', reason, userId: user.id, username: user.username, actorId: user.id })
        throw new errors.InvalidUnlockToken()
      }
      if (!spent.ok) return fail(spent.reason)
      if (user === null) return fail('unknown_user')
      const lock = accountState.lockOf(user.id)
      if (lock !== undefined && lock.reason !== AUTO_LOCK) return fail('admin_lock')
      await accountState.unlock(user.id)
      await unlockTokens.spendAll(user.id, now)
      await loginEvents.record(origin, { type: 'unlock', outcome: 'success', reason: 'self_service', userId: user.id, username: user.username, actorId: user.id })
    }
  } satisfies SelfServiceUnlock)
}

export default fp(selfServiceUnlock, {
  name: 'self-service-unlock',
  fastify: '5.x',
  dependencies: ['config', 'account-state', 'login-events', 'notifier', 'users-store', 'unlock-tokens-store']
})
