import type { Command } from 'commander'
import { CommandFailed, print, withWarden } from './context'

/** `warden client ...`: service clients (introspection and revocation over HTTP Basic). */
export function clientCommands (cli: Command): void {
  const client = cli.command('client').description('manage service clients')

  client.command('create')
    .description('create a service client; its secret is printed once and cannot be shown again')
    .argument('<name>', 'a name for the client (unique)')
    .option('--json', 'machine-readable output: {"client_id": "...", "client_secret": "..."}')
    .action(async (name: string, opts: { json?: boolean }) => {
      const created = await withWarden((app) => app.clients.create(name))
      print(created, opts.json === true,
        `client_id:     ${created.client_id}\nclient_secret: ${created.client_secret}\n` +
        'Store the secret now: Warden keeps only its hash and cannot show it again.')
    })

  client.command('list')
    .description('list service clients')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const list = await withWarden((app) => app.clients.list())
      const text = list.length === 0 ? 'no service clients' : list.map((c) => `${c.client_id}  ${c.created_at}  ${c.name}`).join('\n')
      print(list, opts.json === true, text)
    })

  client.command('delete')
    .description('delete a service client: its credentials stop working at once')
    .argument('<id>', 'client id')
    .action(async (id: string) => {
      const removed = await withWarden((app) => app.clients.remove(id))
      if (!removed) throw new CommandFailed(`no service client with id ${id}`)
    })
}
