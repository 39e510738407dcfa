#!/usr/bin/env node
import { Command, CommanderError } from 'commander'
import { ConfigError } from './config'
import { DatabaseUnavailableError } from './lib/embedded-db'
import { CommandFailed, UsageError } from './commands/context'
import { userCommands } from './commands/user'
import { eventsCommands } from './commands/events'
import { version } from '../package.json'

/**
 * The `warden` command line. Each group of commands lives in src/commands/ and registers
 * itself here. Exit codes: 0 success, 1 failure, 2 usage; errors are one line on stderr.
 */
export function program (): Command {
  const cli = new Command('warden')
    .description('Warden administration: runs against the database of the server configured by the same environment variables')
    .version(version)
    .exitOverride()
    .configureOutput({ outputError: (str, write) => { write(str.split('\n').find((l) => l.trim() !== '') + '\n') } })
  userCommands(cli)
  eventsCommands(cli)
  // Every subcommand exits like the program: usage mistakes with 2.
  const override = (command: Command): void => {
    for (const sub of command.commands) {
      sub.exitOverride().configureOutput({ outputError: (str, write) => { write(str.split('\n').find((l) => l.trim() !== '') + '\n') } })
      override(sub)
    }
  }
  override(cli)
  return cli
}

async function main (): Promise<void> {
  try {
    await program().parseAsync(process.argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version are not failures; every other commander error is a usage mistake
      process.exit(err.exitCode === 0 ? 0 : 2)
    }
    if (err instanceof UsageError) {
      process.stderr.write(`warden: ${err.message}\n`)
      process.exit(2)
    }
    const known = err instanceof ConfigError || err instanceof DatabaseUnavailableError || err instanceof CommandFailed ||
      typeof (err as { statusCode?: unknown }).statusCode === 'number'
    process.stderr.write(`warden: ${known ? (err as Error).message : `unexpected error: ${(err as Error).message}`}\n`)
    process.exit(1)
  }
}

if (require.main === module) void main()
