import { Option, type Command } from 'commander'
import { once } from 'node:events'
import { exportLines, type ExportFormat } from '../lib/event-format'
import { UsageError, withWarden } from './context'
import type { LoginEventFilter } from '../../plugins/login-events'

function isoTime (name: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined
  const time = new Date(value)
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(time.getTime())) throw new UsageError(`${name} takes an ISO 8601 time such as 2026-01-31 or 2026-01-31T12:00:00Z (got "${value}")`)
  return time
}

/** A one-line progress bar on stderr, redrawn at most ten times a second. */
function progressBar (total: number): { tick(): void, done(): void } {
  let count = 0
  let drawn = 0
  const draw = (): void => {
    const share = total === 0 ? 1 : Math.min(count / total, 1)
    const width = 30
    const filled = Math.round(share * width)
    process.stderr.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.round(share * 100)}% ${count.toLocaleString('en')}/${total.toLocaleString('en')} events`)
    drawn = Date.now()
  }
  return {
    tick () {
      count++
      if (Date.now() - drawn >= 100) draw()
    },
    done () {
      draw()
      process.stderr.write('\n')
    }
  }
}

/** `warden events ...`: the login-event store. */
export function eventsCommands (cli: Command): void {
  const events = cli.command('events').description('login events')

  events.command('export')
    .description('write login events to standard output, newest first (a progress bar on stderr when it is a terminal)')
    .addOption(new Option('--format <format>', 'output format').choices(['ndjson', 'csv']).default('ndjson'))
    .option('--since <time>', 'only events at or after this ISO 8601 time')
    .option('--until <time>', 'only events before this ISO 8601 time')
    .option('--user <id>', 'only the events of this account (user id)')
    .action(async (opts: { format: ExportFormat, since?: string, until?: string, user?: string }) => {
      const filter: LoginEventFilter = { from: isoTime('--since', opts.since), to: isoTime('--until', opts.until) }
      if (opts.user !== undefined) {
        if (!/^[0-9a-fA-F]{24}$/.test(opts.user)) throw new UsageError(`--user takes a user id (24 hexadecimal digits; got "${opts.user}")`)
        filter.userId = opts.user
      }
      const out = process.stdout
      let closed = false
      // a reader that stops early (`| head`) ends the export, not the program with an error
      out.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') closed = true; else throw err })
      await withWarden(async (app) => {
        const progress = process.stderr.isTTY ? progressBar(await app.loginEvents.count(filter)) : undefined
        let header = opts.format === 'csv'
        for await (const line of exportLines(app.loginEvents.stream(filter), opts.format)) {
          if (closed) break
          if (!out.write(line)) await Promise.race([once(out, 'drain'), once(out, 'close')])
          if (header) header = false
          else progress?.tick()
        }
        progress?.done()
      })
    })
}
