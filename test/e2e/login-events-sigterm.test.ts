import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { freePort } from '../../src/lib/embedded-db'
import { build, PASSWORD } from '../helper'
import { dropTestDatabase, testDatabaseUri } from '../db'

const ROOT = resolve(__dirname, '..', '..')
/** Run the server from source with the TypeScript loader this test runs under. */
const LOADER = process.execArgv.filter((arg) => arg.includes('typescript'))

t.test('SIGTERM during a burst of logins: every answered attempt has its event after the restart', async (t) => {
  const uri = testDatabaseUri()
  const dataDir = mkdtempSync(join(tmpdir(), 'warden-sigterm-'))
  const port = await freePort()
  const child = spawn(process.execPath, [...LOADER, 'src/server.ts'], {
    cwd: ROOT,
    // A wide group-commit window: at the signal, up to a second of events is still in memory.
    env: { ...process.env, MONGODB_URI: uri, PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'info', LOGIN_EVENT_BATCH_MS: '1000' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGKILL')
    rmSync(dataDir, { recursive: true, force: true })
    await dropTestDatabase(uri)
  })
  await new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! })
    child.once('exit', (code) => reject(new Error(`server exited (${code}) before listening`)))
    lines.on('line', (line) => { if (line.includes('Server listening')) resolve() })
  })
  child.stdout!.resume()

  const base = `http://127.0.0.1:${port}`
  const post = (path: string, body: unknown) => fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close' }, body: JSON.stringify(body) })
  t.equal((await post('/auth/register', { username: 'alice', password: PASSWORD })).status, 201)

  // Six clients log in without pause: unknown names (one each, so each answer has one event
  // to find) and alice's right password every third attempt.
  const answered: string[] = []
  let unanswered = 0
  let attempt = 0
  let stopped = false
  const client = async (): Promise<void> => {
    while (!stopped) {
      const n = ++attempt
      const username = n % 3 === 0 ? 'alice' : `ghost-${n}`
      try {
        const res = await post('/auth/login', { username, password: username === 'alice' ? PASSWORD : 'wrong-password' })
        await res.arrayBuffer()
        if (res.status === 200 || res.status === 401) answered.push(username)
        else unanswered++
      } catch {
        // refused: the server no longer accepts connections
        unanswered++
        stopped = true
      }
    }
  }
  const clients = Array.from({ length: 6 }, client)
  const deadline = Date.now() + 60_000
  while (answered.length < 12 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const [code] = await exited
  stopped = true
  await Promise.all(clients)
  t.equal(code, 0, 'a clean exit')
  t.ok(answered.length >= 12, `${answered.length} attempts answered, ${unanswered} refused`)

  // "Restart": a new Warden on the same database reads what the old one wrote.
  const app = await build(t, { MONGODB_URI: uri })
  const events = await app.loginEvents.find({ type: 'login' }, 200)
  t.equal(events.length, answered.length, 'events == answered attempts')
  t.same(events.map((e) => e.username).sort(), [...answered].sort(), 'the very same attempts')
  t.equal(events.filter((e) => e.outcome === 'success').length, answered.filter((u) => u === 'alice').length)
})
