import type { Command } from 'commander'
import { print, withWarden } from './context'

/** `warden keys ...`: token signing keys. */
export function keysCommands (cli: Command): void {
  const keys = cli.command('keys').description('manage token signing keys')

  keys.command('rotate')
    .description('make a new signing key; the old one verifies until the tokens it signed have expired')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const result = await withWarden((app) => app.keys.rotate())
      const until = result.previous_kid === null ? '' : `; ${result.previous_kid} verifies until ${result.previous_retire_at ?? '?'}`
      print(result, opts.json === true, `rotated: ${result.kid} signs${until}`)
    })

  keys.command('list')
    .description('list the signing keys of the configured algorithm, newest first')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const { list, rotatable } = await withWarden(async (app) => ({ list: await app.keys.list(), rotatable: app.keys.rotatable }))
      if (opts.json === true) {
        print(list, true)
        return
      }
      if (!rotatable) {
        print(null, false, 'JWT_ALG=HS256: tokens are signed with JWT_SECRET; no keys are stored')
        return
      }
      const rows = [['KID', 'ALG', 'STATE', 'CREATED', 'LEAVES JWKS', 'ENCRYPTED'],
        ...list.map((k) => [k.kid, k.alg, k.state, k.created_at, k.retire_at ?? '-', k.encrypted ? 'yes' : 'no'])]
      const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
      print(null, false, rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd()).join('\n'))
    })
}
