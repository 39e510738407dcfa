/** What the bench's runners (run.ts, soak.ts) share as commands: usage errors, progress lines, the exit. */
import { killAllSync } from './processes'

/** A bad command line: the runner prints the message and its usage, and exits 2. */
export class UsageError extends Error {}

/** The value given after `flag` (`--json FILE`); a UsageError when there is none or it is another option. */
export function optionValue (flag: string, value: string | undefined, what: string): string {
  if (value === undefined || value.startsWith('--')) throw new UsageError(`${flag} needs ${what}`)
  return value
}

/** Progress lines on stderr, each with the seconds since `started` (Date.now()). */
export function progressLog (started: number): (message: string) => void {
  return (message) => {
    process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${message}\n`)
  }
}

/**
 * Runs a runner's `main` on the command line's arguments and exits with its status: 2 (and the
 * usage) for a UsageError, 1 for anything else it throws, after killing every child still running.
 */
export function runCommand (name: string, usage: string, main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then((code) => { process.exit(code) }, (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`${name}: ${err.message}\n\n${usage}`)
      process.exit(2)
    }
    process.stderr.write(`${name}: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
    killAllSync()
    process.exit(1)
  })
}
