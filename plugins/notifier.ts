import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { outboxModel } from '../src/models/outbox'
import './config'
import './db'

/** A message to the owner of an account (unlock link, lock notice, new-device notice). */
export interface Notice {
  /** What it is about, e.g. `unlock_link`, `account_locked`, `new_device`. */
  kind: string
  to: string
  subject: string
  text: string
  userId?: string
}

export interface StoredNotice extends Notice {
  at: string
}

export interface Notifier {
  /** Sends a notice. Never throws: a failed delivery is logged (a notice is not worth a failed request). */
  send(notice: Notice): Promise<void>
  /** The messages the `log` notifier kept for `to`, newest first (empty for other notifiers). */
  outbox(to: string, limit?: number): Promise<StoredNotice[]>
}

declare module 'fastify' {
  interface FastifyInstance {
    notifier: Notifier
  }
}

/**
 * How Warden reaches account owners. `log` (the default) writes a line to the log (recipient and
 * subject, never the text: it may hold a single-use link) and keeps the whole message in the
 * `outbox` collection, where a developer can read it. `smtp` sends it as a plain-text mail
 * through SMTP_URL, from MAIL_FROM, with nodemailer.
 */
async function notifier (fastify: FastifyInstance): Promise<void> {
  const model = outboxModel(fastify.db.connection)
  await fastify.db.ensureIndexes(model)
  const { transport, smtpUrl, mailFrom } = fastify.config.notifier

  let deliver = async (notice: Notice): Promise<void> => {
    await model.create({ kind: notice.kind, to: notice.to, subject: notice.subject, text: notice.text, user_id: notice.userId ?? null })
    fastify.log.info({ notice: notice.kind, to: notice.to, subject: notice.subject }, 'notice written to the outbox')
  }

  if (transport === 'smtp') {
    // Loaded only when used: the log notifier's starts skip the module.
    const { default: nodemailer } = await import('nodemailer')
    const mailer = nodemailer.createTransport(smtpUrl as string)
    fastify.addHook('onClose', async () => { mailer.close() })
    deliver = async (notice: Notice): Promise<void> => {
      await mailer.sendMail({ from: mailFrom, to: notice.to, subject: notice.subject, text: notice.text })
      fastify.log.info({ notice: notice.kind, to: notice.to, subject: notice.subject }, 'notice sent by mail')
    }
  }

  fastify.decorate('notifier', {
    async send (notice: Notice) {
      try {
        await deliver(notice)
      } catch (err) {
        fastify.log.error({ err, notice: notice.kind }, 'a notice could not be delivered')
      }
    },
    async outbox (to: string, limit = 20) {
      const docs = await model.find({ to }).sort({ at: -1 }).limit(limit).lean()
      return docs.map((d) => ({ kind: d.kind, to: d.to, subject: d.subject, text: d.text, userId: d.user_id ?? undefined, at: d.at.toISOString() }))
    }
  } satisfies Notifier)
}

export default fp(notifier, { name: 'notifier', fastify: '5.x', dependencies: ['config', 'db'] })
