import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { randomUUID } from 'node:crypto'
import { freePort, startDatabase } from '../../src/lib/embedded-db'
import { localOrigin } from '../../src/lib/origin'
import { build, PASSWORD } from '../helper'
import { dropTestDatabase, testDatabaseUri } from '../db'
import type { StoredLoginEvent } from '../../plugins/login-events'

const ROOT = resolve(__dirname, '..', '..')
const LOADER = process.execArgv.filter((arg) => arg.includes('typescript'))
const EVENTS = 100_000
/** How much the server's resident memory may grow while it streams the whole export. */
const RSS_GROWTH_BOUND_MB = 48

function rssMB (pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return match === null ? NaN : Number(match[1]) / 1024
}

// FerretDB reads a few thousand events a second on a busy machine: this file can take minutes
t.setTimeout(900_000)

t.test(`an export of ${EVENTS.toLocaleString('en')} events streams in bounded memory`, { timeout: 900_000 }, async (t) => {
  // A database server of its own: a scan of 100,000 events must not slow the other test files down.
  const dataDir = mkdtempSync(join(tmpdir(), 'warden-export-'))
  const external = process.env.MONGODB_URI !== undefined && process.env.MONGODB_URI !== ''
  const db = external
    ? await startDatabase({ uri: testDatabaseUri(), dataDir })
    : await startDatabase({ dataDir: join(dataDir, 'db'), dbName: 'export', reuse: false })
  const uri = db.uri
  t.teardown(async () => {
    if (external) await dropTestDatabase(uri)
    await db.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })

  // Seeded through the store, in bulk, with user agents as long as real ones.
  const app = await build(t, { MONGODB_URI: uri })
  await app.registration.create({ username: 'root', password: PASSWORD, roles: ['user', 'admin'] }, localOrigin('test'))
  const agent = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36'
  const start = Date.now() - EVENTS * 1000
  const seeding = Date.now()
  for (let done = 0; done < EVENTS; done += 5000) {
    const chunk: StoredLoginEvent[] = Array.from({ length: 5000 }, (_, i) => ({
      type: 'login', outcome: 'failure', reason: 'bad_password', userId: '6b043d37cad7ddc7cba7d808', username: `user-${(done + i) % 977}`,
      ip: `10.0.${(done + i) % 250}.${i % 250}`, userAgent: agent, at: new Date(start + (done + i) * 1000), requestId: randomUUID()
    }))
    await app.loginEvents.importMany(chunk)
  }

  t.comment(`seeded ${EVENTS} events in ${((Date.now() - seeding) / 1000).toFixed(1)} s`)
  const port = await freePort()
  const child = spawn(process.execPath, [...LOADER, 'src/server.ts'], {
    cwd: ROOT,
    env: { ...process.env, MONGODB_URI: uri, PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const base = `http://127.0.0.1:${port}`
  for (let ready = false; !ready;) {
    if (child.exitCode !== null) throw new Error('the server exited')
    ready = await fetch(`${base}/health/ready`).then((r) => r.status === 200, () => false)
    if (!ready) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  createInterface({ input: child.stdout! }).on('line', () => {})
  const login = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'root', password: PASSWORD }) })
  const { access_token: token } = await login.json() as { access_token: string }
  const auth = { authorization: `Bearer ${token}` }
  // warm-up: the route and the serialiser compiled, the connection pool open
  await (await fetch(`${base}/admin/login-events?limit=200`, { headers: auth })).arrayBuffer()

  const pid = child.pid as number
  const before = rssMB(pid)
  let peak = before
  const sampler = setInterval(() => { peak = Math.max(peak, rssMB(pid)) }, 50)
  let lines = 0
  let bytes = 0
  const exporting = Date.now()
  try {
    const res = await fetch(`${base}/admin/login-events/export?format=ndjson&type=login`, { headers: auth })
    t.equal(res.status, 200)
    let tail = ''
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.length
      const text = tail + Buffer.from(chunk).toString('utf8')
      const parts = text.split('\n')
      tail = parts.pop() ?? ''
      lines += parts.length
    }
  } finally {
    clearInterval(sampler)
  }
  t.equal(lines, EVENTS + 1, 'every event (and the admin login of the set-up)')
  const growth = peak - before
  t.comment(`exported ${(bytes / 1e6).toFixed(1)} MB in ${((Date.now() - exporting) / 1000).toFixed(1)} s; server RSS ${before.toFixed(0)} MB before, ${peak.toFixed(0)} MB at most (+${growth.toFixed(1)} MB)`)
  t.ok(growth < RSS_GROWTH_BOUND_MB, `RSS grew by ${growth.toFixed(1)} MB (< ${RSS_GROWTH_BOUND_MB} MB) for ${(bytes / 1e6).toFixed(0)} MB of export`)
  child.kill('SIGTERM')
})
