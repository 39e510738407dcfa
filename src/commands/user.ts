import type { Command } from 'commander'
import { localOrigin } from '../lib/origin'
import { print, readStdin, withWarden } from './context'

/** `warden user ...`: accounts. */
export function userCommands (cli: Command): void {
  const user = cli.command('user').description('manage accounts')

  user.command('create')
    .description('create an account (the password policy applies)')
    .requiredOption('--username <username>', 'login name')
    .requiredOption('--password-stdin', 'read the password from standard input')
    .option('--role <role...>', 'roles to grant (default: user)')
    .option('--email <email>', 'e-mail address')
    .option('--json', 'machine-readable output')
    .action(async (opts: { username: string, role?: string[], email?: string, json?: boolean }) => {
      const password = await readStdin()
      const roles = opts.role === undefined ? ['user'] : [...new Set(['user', ...opts.role])]
      const created = await withWarden((app) => app.registration.create({ username: opts.username, password, email: opts.email, roles }, localOrigin('warden cli')))
      print({ id: created.id, username: created.username, roles: created.roles }, true)
    })
}
