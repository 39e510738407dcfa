import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { freePort } from '../../src/lib/embedded-db'
import { waitForLog } from './processes'

const ROOT = resolve(__dirname, '..', '..')

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

t.test('npm start: embedded database, register, login, protected route, graceful stop', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'warden-e2e-'))
  const port = await freePort()
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'info' }
  delete env.MONGODB_URI
  const child = spawn('npm', ['start'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
    rmSync(dataDir, { recursive: true, force: true })
  })

  const dbLine = await waitForLog(child, /^using database$/)
  t.match(dbLine, { database: /^mongodb:\/\/127\.0\.0\.1:\d+\/warden$/, kind: /^(mongod|ferretdb|memory-server)$/ }, 'logs the URI it uses')
  await waitForLog(child, /^Server listening at/)
  const base = `http://127.0.0.1:${port}`

  const state = JSON.parse(readFileSync(join(dataDir, 'embedded.json'), 'utf8')) as { uri: string, pid: number, owner_pid: number }
  t.ok(alive(state.pid), 'the embedded database runs, recorded for the CLI')

  t.equal((await fetch(`${base}/health/ready`)).status, 200)

  const json = { 'content-type': 'application/json' }
  const reg = await fetch(`${base}/auth/register`, { method: 'POST', headers: json, body: JSON.stringify({ username: 'Erin', password: 'a perfectly fine passphrase' }) })
  t.equal(reg.status, 201)
  const { id } = await reg.json() as { id: string }

  const login = await fetch(`${base}/auth/login`, { method: 'POST', headers: json, body: JSON.stringify({ username: 'erin', password: 'a perfectly fine passphrase' }) })
  t.equal(login.status, 200)
  const { access_token: token } = await login.json() as { access_token: string }

  const me = await fetch(`${base}/users/me`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(me.status, 200)
  t.match(await me.json(), { id, username: 'Erin' })

  const anonymous = await fetch(`${base}/users/me`)
  t.equal(anonymous.status, 401)
  t.equal(anonymous.headers.get('www-authenticate'), 'Bearer realm="warden"')
  t.same(await anonymous.json(), { error: 'missing_token', message: 'A bearer token is required' })

  const tampered = await fetch(`${base}/users/me`, { headers: { authorization: `Bearer ${token.slice(0, -6)}AAAAAA` } })
  t.equal(tampered.status, 401)
  t.equal((await tampered.json() as { error: string }).error, 'invalid_token')

  const verify = await fetch(`${base}/auth/verify`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(verify.status, 204)
  t.equal(verify.headers.get('x-auth-username'), 'Erin')

  const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`)), {
    issuer: 'http://localhost:3000', audience: 'warden', algorithms: ['RS256'], typ: 'at+jwt'
  })
  t.equal(payload.sub, id, 'a remote client verifies the token from the JWKS alone')

  const docs = await fetch(`${base}/docs/json`)
  t.equal(docs.status, 200)

  // SIGTERM to the server process: it finishes, closes the database and exits 0.
  const exited = once(child, 'exit')
  process.kill(state.owner_pid, 'SIGTERM')
  const [code] = await exited
  t.equal(code, 0, 'clean exit')
  t.notOk(alive(state.pid), 'the embedded database stopped with the server')
  t.notOk(existsSync(join(dataDir, 'embedded.json')), 'its record is removed')
})

t.test('a bad configuration exits non-zero with one line naming the variable', async (t) => {
  const child = spawn(process.execPath, ['dist/src/server.js'], {
    cwd: ROOT,
    env: { ...process.env, PORT: 'not-a-port' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderr = ''
  child.stderr.on('data', (chunk) => { stderr += chunk })
  const [code] = await once(child, 'exit')
  t.equal(code, 1)
  t.equal(stderr.trim().split('\n').length, 1, 'one line')
  t.match(stderr, /^warden: invalid configuration: PORT /)
})
