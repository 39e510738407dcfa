/**
 * Runs once before all test files (package.json "tap.before"): unless MONGODB_URI
 * is set, starts a database server for the whole run in .data/test and records it
 * in .data/test/test-db.json for test/db.ts. test/setup/after.ts stops it.
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'

async function main (): Promise<void> {
  if (process.env.MONGODB_URI !== undefined && process.env.MONGODB_URI !== '') return
  // Loaded here, not at the top: only this child process may load src/ (see below).
  const { readTestDbInfo, stopTestServer, testDataDir, testDbFile } = require('../db') as typeof import('../db')
  const { startDatabase } = require('../../src/lib/embedded-db') as typeof import('../../src/lib/embedded-db')

  // A server left over from an interrupted run still holds the old files.
  const stale = readTestDbInfo()
  if (stale !== undefined) await stopTestServer(stale.pid)
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

// tap records code coverage for its "before" script even with disable-coverage,
// and would then fail the run over the partial coverage of src/. So the work
// happens in a child process with coverage collection turned off.
if (process.env._TAPJS_PROCESSINFO_COVERAGE_ !== '0') {
  const child = spawnSync(process.execPath, [...process.execArgv, __filename], {
    stdio: 'inherit',
    env: { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' }
  })
  process.exitCode = child.status ?? 1
} else {
  main().catch((err: unknown) => {
    process.stderr.write(`test database: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 1
  })
}
