/**
 * Runs once after all test files (package.json "tap.after"): stops the database
 * server started by test/setup/before.ts. Its files stay in .data/test until
 * the next run, for inspection.
 */
import fs from 'node:fs'
import { readTestDbInfo, stopTestServer, testDbFile } from '../db'

async function main (): Promise<void> {
  const info = readTestDbInfo()
  if (info === undefined) return
  await stopTestServer(info.pid)
  fs.rmSync(testDbFile, { force: true })
}

main().catch((err: unknown) => {
  process.stderr.write(`test database: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
})
