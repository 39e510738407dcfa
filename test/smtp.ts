/** A real SMTP server (smtp-server) on a free loopback port that keeps what it receives. */
import { SMTPServer } from 'smtp-server'
import { simpleParser, type ParsedMail } from 'mailparser'
import type { Teardown } from './helper'
import { freePort } from '../src/lib/embedded-db'
import { eventually } from './brute-force'

export interface Mailbox {
  url: string
  messages: ParsedMail[]
  /** The first message to `to` (and matching `subject`) once delivered. */
  next(to: string, subject?: RegExp): Promise<ParsedMail>
}

export async function startSmtp (t: Teardown): Promise<Mailbox> {
  const messages: ParsedMail[] = []
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData (stream, _session, callback) {
      simpleParser(stream).then((mail) => { messages.push(mail); callback() }, callback)
    }
  })
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const delivered = new Set<ParsedMail>()
  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    next (to: string, subject?: RegExp) {
      return eventually(() => messages.find((m) => !delivered.has(m) && m.to !== undefined &&
        JSON.stringify(m.to).includes(to) && (subject === undefined || subject.test(m.subject ?? ''))), 10_000, `a mail to ${to}`)
        .then((m) => { delivered.add(m); return m })
    }
  }
}
