import { Option, type Command } from 'commander'
import { parseDuration } from '../lib/duration'
import { isEmail } from '../lib/email'
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../schemas/admin'
import type { AdminUser, UserPage } from '../../plugins/accounts/administration'
import { CLI_ACTOR, cliOrigin, print, readStdin, UsageError, withWarden } from './context'

interface JsonOption { json?: boolean }

/** One account as text: a line per field. */
export function describeUser (user: AdminUser): string {
  const lock = user.locked
    ? `locked (${user.lock_reason ?? 'unknown'}) ${user.locked_until === null ? 'until unlocked' : `until ${user.locked_until}`}${user.lock_note === null ? '' : `: ${user.lock_note}`}`
    : 'not locked'
  return [
    `id          ${user.id}`,
    `username    ${user.username}`,
    `email       ${user.email ?? '-'}`,
    `roles       ${user.roles.join(', ')}`,
    `created     ${user.created_at}`,
    `last login  ${user.last_login_at ?? 'never'}`,
    `status      ${lock}`
  ].join('\n')
}

/** A page of accounts as a table, with the command for the next page. */
function describePage (page: UserPage): string {
  const rows = [['USERNAME', 'ROLES', 'STATUS', 'ID'], ...page.items.map((u) => [u.username, u.roles.join(','), u.locked ? 'locked' : 'active', u.id])]
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  const lines = rows.map((r) => r.map((cell, i) => i === r.length - 1 ? cell : cell.padEnd(widths[i])).join('  '))
  if (page.next_cursor !== null) lines.push(`more: add --cursor ${page.next_cursor}`)
  return lines.join('\n')
}

function positiveInteger (value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || n < 1 || n > MAX_PAGE_SIZE) throw new UsageError(`--limit must be a whole number from 1 to ${MAX_PAGE_SIZE} (got "${value}")`)
  return n
}

/** --email: the addresses the API's schemas take (src/lib/email.ts). */
function emailAddress (value: string): string {
  if (!isEmail(value)) throw new UsageError(`--email must be an e-mail address such as alice@example.com (got "${value}")`)
  return value
}

/** The end of a lock from --until (ISO 8601) or --for (a duration); undefined: until unlocked. */
function lockEnd (opts: { until?: string, for?: string }): Date | undefined {
  if (opts.until !== undefined) {
    const at = new Date(opts.until)
    if (Number.isNaN(at.getTime())) throw new UsageError(`--until must be an ISO 8601 date and time such as 2030-01-31T12:00:00Z (got "${opts.until}")`)
    if (at.getTime() <= Date.now()) throw new UsageError(`--until must be in the future (got "${opts.until}")`)
    return at
  }
  if (opts.for !== undefined) {
    const seconds = parseDuration(opts.for)
    if (seconds === null || seconds < 1) throw new UsageError(`--for must be a duration such as 900, 15m, 12h or 30d (got "${opts.for}")`)
    return new Date(Date.now() + seconds * 1000)
  }
  return undefined
}

/** `warden user ...`: accounts. USER is a username (any case) or an account id. */
export function userCommands (cli: Command): void {
  const user = cli.command('user')
    .description('manage accounts (USER is a username, in any case, or an account id)')
    .addHelpText('after', `
Examples:
  printf '%s\\n' "$ADMIN_PASSWORD" | warden user create --username root --password-stdin --role admin
  warden user list --q ali --locked
  warden user show alice --json
  warden user lock alice --reason "phished" --for 24h
  warden user unlock alice
  warden user roles alice --add support
  warden user delete alice`)

  user.command('create')
    .description('create an account (the password policy applies); prints it as JSON')
    .requiredOption('--username <username>', 'login name')
    .requiredOption('--password-stdin', 'read the password from standard input')
    .option('--role <role...>', 'roles to grant besides user (repeatable)')
    .option('--email <email>', 'e-mail address', emailAddress)
    .option('--json', 'machine-readable output (the default for this command)')
    .action(async (opts: { username: string, role?: string[], email?: string }) => {
      const password = await readStdin()
      const roles = opts.role === undefined ? ['user'] : [...new Set(['user', ...opts.role])]
      const created = await withWarden((app) => app.administration.create({ username: opts.username, password, email: opts.email, roles }, cliOrigin(), CLI_ACTOR))
      print({ id: created.id, username: created.username, roles: created.roles }, true)
    })

  user.command('list')
    .description('list accounts in username order, one page at a time')
    .option('--q <text>', 'only usernames containing this text (any case)')
    .option('--role <role>', 'only accounts with this role')
    .addOption(new Option('--locked', 'only locked accounts').conflicts('unlocked'))
    .option('--unlocked', 'only accounts that are not locked')
    .option('--limit <n>', `accounts per page, 1 to ${MAX_PAGE_SIZE}`, positiveInteger, DEFAULT_PAGE_SIZE)
    .option('--cursor <cursor>', 'the page after the one that printed this cursor')
    .option('--json', 'machine-readable output: {"items": [...], "next_cursor": ...}')
    .action(async (opts: { q?: string, role?: string, locked?: boolean, unlocked?: boolean, limit: number, cursor?: string } & JsonOption) => {
      const locked = opts.locked === true ? true : opts.unlocked === true ? false : undefined
      const page = await withWarden((app) => app.administration.list({ q: opts.q, role: opts.role, locked, limit: opts.limit, cursor: opts.cursor }))
      print(page, opts.json === true, describePage(page))
    })

  user.command('show')
    .description('show one account')
    .argument('<user>', 'username or id')
    .option('--json', 'machine-readable output')
    .action(async (name: string, opts: JsonOption) => {
      const found = await withWarden((app) => app.administration.find(name))
      print(found, opts.json === true, describeUser(found))
    })

  user.command('lock')
    .description('lock an account: its live tokens and its logins are refused at once')
    .argument('<user>', 'username or id')
    .option('--reason <text>', 'a note for other administrators')
    .addOption(new Option('--until <iso-date>', 'when the lock ends (default: until unlocked)').conflicts('for'))
    .option('--for <duration>', 'how long the lock lasts: 900, 15m, 12h, 30d')
    .option('--json', 'machine-readable output')
    .action(async (name: string, opts: { reason?: string, until?: string, for?: string } & JsonOption) => {
      const until = lockEnd(opts)
      const locked = await withWarden(async (app) => {
        const target = await app.administration.find(name)
        return app.administration.lock(target.id, { until, note: opts.reason }, cliOrigin(), CLI_ACTOR)
      })
      print(locked, opts.json === true, `locked ${locked.username} ${locked.locked_until === null ? 'until unlocked' : `until ${locked.locked_until}`}`)
    })

  user.command('unlock')
    .description('unlock an account, whatever locked it')
    .argument('<user>', 'username or id')
    .option('--json', 'machine-readable output')
    .action(async (name: string, opts: JsonOption) => {
      const unlocked = await withWarden(async (app) => {
        const target = await app.administration.find(name)
        return app.administration.unlock(target.id, cliOrigin(), CLI_ACTOR)
      })
      print(unlocked, opts.json === true, `unlocked ${unlocked.username}`)
    })

  user.command('roles')
    .description('show or change the roles of an account; taking a role away ends its sessions at once')
    .argument('<user>', 'username or id')
    .addOption(new Option('--set <role...>', 'replace the roles (user is always kept)').conflicts(['add', 'remove']))
    .option('--add <role...>', 'grant roles')
    .option('--remove <role...>', 'take roles away')
    .option('--json', 'machine-readable output')
    .action(async (name: string, opts: { set?: string[], add?: string[], remove?: string[] } & JsonOption) => {
      if (opts.remove?.includes('user') === true) throw new UsageError('every account keeps the user role')
      const changed = await withWarden(async (app) => {
        const target = await app.administration.find(name)
        if (opts.set === undefined && opts.add === undefined && opts.remove === undefined) return target
        const roles = opts.set ?? [...target.roles.filter((r) => !(opts.remove ?? []).includes(r)), ...(opts.add ?? [])]
        return app.administration.update(target.id, { roles }, cliOrigin(), CLI_ACTOR)
      })
      print(changed, opts.json === true, `${changed.username}: ${changed.roles.join(', ')}`)
    })

  user.command('delete')
    .description('delete an account: its sessions end at once, its login events stay until retention ends')
    .argument('<user>', 'username or id')
    .option('--json', 'machine-readable output')
    .action(async (name: string, opts: JsonOption) => {
      const deleted = await withWarden(async (app) => {
        const target = await app.administration.find(name)
        await app.administration.remove(target.id, cliOrigin(), CLI_ACTOR)
        return target
      })
      print({ id: deleted.id, username: deleted.username, deleted: true }, opts.json === true, `deleted ${deleted.username}`)
    })
}
