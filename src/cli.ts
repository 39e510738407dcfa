#!/usr/bin/env node
import { Command, CommanderError } from 'commander'
import { ConfigError } from './config'
import { DatabaseUnavailableError } from './lib/embedded-db'
import { CommandFailed, UsageError } from './commands/context'
import { userCommands } from './commands/user'
import { sessionCommands } from './commands/sessions'
import { keysCommands } from './commands/keys'
import { clientCommands } from './commands/client'
import { version } from '../package.json'

/** Commander's error messages as one line, like every other error of the command. */
function oneLine (str: string, write: (str: string) => void): void {
  write(`warden: ${(str.split('\n').find((l) => l.trim() !== '') ?? str).replace(/^error: /, '')}\n`)
}

/**
 * The `warden` command line. Each group of commands lives in src/commands/ and registers
 * itself here. Exit codes: 0 success, 1 failure, 2 usage; errors are one line on stderr.
 */
export function program (): Command {
  const cli = new Command('warden')
    .description('Warden administration: runs against the database of the server configured by the same environment variables')
    .version(version)
    .exitOverride()
    .configureOutput({ outputError: oneLine })
    .addHelpText('after', `
Every command takes the server's environment variables (MONGODB_URI, DATA_DIR, RBAC_FILE...) and works on
its database; with MONGODB_URI unset, on the embedded database of a server running in this folder.
Add --json for machine-readable output. Run "warden <command> --help" for each command's options.
Exit codes: 0 success, 1 failure (the command ran and could not do it), 2 usage (bad arguments).`)
  userCommands(cli)
  sessionCommands(cli)
  keysCommands(cli)
  clientCommands(cli)
  // Every subcommand exits like the program: usage mistakes with 2.
  const override = (command: Command): void => {
    for (const sub of command.commands) {
      sub.exitOverride().configureOutput({ outputError: oneLine })
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
