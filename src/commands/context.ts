import type { FastifyInstance } from 'fastify'
import type { Actor } from '../../plugins/accounts/administration'
import { loadConfig } from '../config'
import { startDatabase } from '../lib/embedded-db'
import { localOrigin, type Origin } from '../lib/origin'

/** The operator of the `warden` command: the database is theirs, so every right is. */
export const CLI_ACTOR: Actor = { id: null }

/** Where the CLI's actions come from, in login events (a new request id each). */
export function cliOrigin (): Origin {
  return localOrigin('warden cli')
}

/** Reads all of standard input (for --password-stdin), without the trailing newline. */
export async function readStdin (): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
}

/** A mistake in how a command was called: one line on stderr, exit code 2. */
export class UsageError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/** A command that ran but could not do what was asked (no such user...): exit code 1. */
export class CommandFailed extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'CommandFailed'
  }
}

/**
 * Runs `fn` against Warden's database, with the same configuration as the server. With
 * MONGODB_URI unset it uses the embedded database of a server running in the same folder,
 * or starts the embedded database for the duration of the command.
 */
export async function withWarden<T> (fn: (app: FastifyInstance) => Promise<T>): Promise<T> {
  const config = loadConfig({ LOG_LEVEL: 'warn', ...process.env })
  const database = await startDatabase({ uri: config.mongodbUri, dataDir: config.dataDir, reuse: true })
  try {
    // Loaded here: --help and usage errors answer without loading the server.
    const { buildApp } = require('../app') as typeof import('../app')
    const app = await buildApp({ config, mongodbUri: database.uri })
    try {
      return await fn(app)
    } finally {
      await app.close()
    }
  } finally {
    await database.stop()
  }
}

/** Prints a result: one JSON line with --json (or when `always` is set), else the text form. */
export function print (value: unknown, json: boolean, text?: string): void {
  process.stdout.write((json || text === undefined ? JSON.stringify(value) : text) + '\n')
}
