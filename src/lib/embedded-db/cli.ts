/**
 * The embedded-database helpers for shell scripts (scripts/docker-recipe-check.sh), so that
 * a script starts, watches and stops servers with the same code as Warden does:
 *
 *   node dist/src/lib/embedded-db/cli.js <command>
 *
 * Commands and exit statuses are listed in USAGE. Messages go to stderr, results to stdout.
 */
import path from 'node:path'
import { startDatabase } from './index'
import { freePort, isAlive, terminate, waitUntil } from './process'

const USAGE = `Usage: node dist/src/lib/embedded-db/cli.js <command>

  start <data-dir>           start a database server in <data-dir> (mongod on PATH, else FerretDB, built
                             once if needed) that outlives this command; prints "<pid> <uri>"
  stop <pid> [grace-ms]      SIGTERM, then SIGKILL after grace-ms (default 5000); returns once it is gone
  exited <pid> [timeout-ms]  exit status 0 once <pid> has exited (a zombie counts), 1 if it still runs
                             after timeout-ms (default 0: answer at once)
  free-port                  print a free TCP port on 127.0.0.1
`

export class UsageError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

function pid (value: string | undefined): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`not a process id: ${value ?? '(missing)'}`)
  return n
}

function milliseconds (value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`not a number of milliseconds: ${value}`)
  return n
}

export async function main (argv: string[]): Promise<number> {
  const [command, ...args] = argv
  switch (command) {
    case 'start': {
      if (args.length !== 1) throw new UsageError('start takes one data folder')
      const db = await startDatabase({
        dataDir: path.resolve(args[0]),
        detached: true,
        reuse: false,
        log: (msg) => { process.stderr.write(`embedded-db: ${msg}\n`) }
      })
      process.stdout.write(`${db.pid} ${db.uri}\n`)
      return 0
    }
    case 'stop':
      await terminate(pid(args[0]), milliseconds(args[1], 5000))
      return 0
    case 'exited': {
      const target = pid(args[0])
      const timeoutMs = milliseconds(args[1], 0)
      try {
        await waitUntil(() => !isAlive(target), `process ${target} to exit`, timeoutMs)
        return 0
      } catch {
        return 1
      }
    }
    case 'free-port':
      process.stdout.write(`${await freePort()}\n`)
      return 0
    default:
      throw new UsageError(command === undefined ? 'no command' : `unknown command ${command}`)
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code },
    (err: unknown) => {
      if (err instanceof UsageError) {
        process.stderr.write(`embedded-db: ${err.message}\n\n${USAGE}`)
        process.exitCode = 2
      } else {
        process.stderr.write(`embedded-db: ${err instanceof Error ? err.message : String(err)}\n`)
        process.exitCode = 1
      }
    }
  )
}
