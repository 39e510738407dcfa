#!/usr/bin/env node
import { Command, CommanderError } from 'commander'
import type { FastifyInstance } from 'fastify'
import { loadConfig, ConfigError } from './config'
import { buildApp } from './app'
import { startDatabase, DatabaseUnavailableError } from './lib/embedded-db'
import { localOrigin } from './lib/origin'
import { version } from '../package.json'

/** Reads all of standard input (for --password-stdin), without the trailing newline. */
async function readStdin (): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
}

/**
 * Runs `fn` against Warden's database, with the same configuration as the server. With
 * MONGODB_URI unset it uses the embedded database of a server running in the same folder,
 * or starts the embedded database for the duration of the command.
 */
async function withWarden<T> (fn: (app: FastifyInstance) => Promise<T>): Promise<T> {
  const config = loadConfig({ LOG_LEVEL: 'warn', ...process.env })
  const database = await startDatabase({ uri: config.mongodbUri, dataDir: config.dataDir, reuse: true })
  try {
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

export function program (): Command {
  const cli = new Command('warden')
    .description('Warden administration: runs against the database of the server configured by the same environment variables')
    .version(version)
    .exitOverride()

  const user = cli.command('user').description('manage accounts')
  user.command('create')
    .description('create an account (the password policy applies)')
    .requiredOption('--username <username>', 'login name')
    .requiredOption('--password-stdin', 'read the password from standard input')
    .option('--role <role...>', 'roles to grant (default: user)')
    .option('--email <email>', 'e-mail address')
    .action(async (opts: { username: string, role?: string[], email?: string }) => {
      const password = await readStdin()
      const roles = opts.role === undefined ? ['user'] : [...new Set(['user', ...opts.role])]
      const created = await withWarden((app) => app.registration.create({ username: opts.username, password, email: opts.email, roles }, localOrigin('warden cli')))
      process.stdout.write(JSON.stringify({ id: created.id, username: created.username, roles: created.roles }) + '\n')
    })

  return cli
}

async function main (): Promise<void> {
  try {
    await program().parseAsync(process.argv)
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode)
    const known = err instanceof ConfigError || err instanceof DatabaseUnavailableError || typeof (err as { statusCode?: unknown }).statusCode === 'number'
    process.stderr.write(`warden: ${known ? (err as Error).message : `unexpected error: ${(err as Error).message}`}\n`)
    process.exit(1)
  }
}

if (require.main === module) void main()
