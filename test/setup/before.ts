/**
 * Runs once before all test files (package.json "tap.before"): unless MONGODB_URI
 * is set, starts a database server for the whole run in .data/test and records it
 * in .data/test/test-db.json for test/db.ts. test/setup/after.ts stops it.
 */
import fs from 'node:fs'
import { startDatabase } from '../../src/lib/embedded-db'
import { isTestServer, readTestDbInfo, stopTestServer, testDataDir, testDbFile } from '../db'

async function main (): Promise<void> {
  if (process.env.MONGODB_URI !== undefined && process.env.MONGODB_URI !== '') return

  // A server left over from an interrupted run still holds the old files.
  const stale = readTestDbInfo()
  if (stale !== undefined && isTestServer(stale.pid)) await stopTestServer(stale.pid)
  fs.rmSync(testDataDir, { recursive: true, force: true })
  fs.mkdirSync(testDataDir, { recursive: true })

  const db = await startDatabase({
    dataDir: testDataDir,
    detached: true,
    reuse: false,
    log: (msg) => { process.stderr.write(`test database: ${msg}\n`) }
  })
  fs.writeFileSync(testDbFile, JSON.stringify({ uri: db.uri, pid: db.pid, kind: db.kind }, null, 2) + '\n')
}

main().catch((err: unknown) => {
  process.stderr.write(`test database: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
})
