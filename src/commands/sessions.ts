import type { Command } from 'commander'
import { CLI_ACTOR, cliOrigin, print, withWarden } from './context'

/** `warden sessions ...`: login sessions. */
export function sessionCommands (cli: Command): void {
  const sessions = cli.command('sessions').description('manage login sessions')

  sessions.command('revoke')
    .description('end every session of an account: its refresh tokens and access tokens stop working')
    .requiredOption('--user <user>', 'username (any case) or account id')
    .option('--json', 'machine-readable output')
    .action(async (opts: { user: string, json?: boolean }) => {
      const result = await withWarden(async (app) => {
        const target = await app.administration.find(opts.user)
        const revoked = await app.administration.revokeSessions(target.id, cliOrigin(), CLI_ACTOR)
        return { user_id: target.id, username: target.username, revoked }
      })
      print(result, opts.json === true, `revoked ${result.revoked} session${result.revoked === 1 ? '' : 's'} of ${result.username}`)
    })
}
