import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { resolve } from 'node:path'
import { build, signUp, basic } from '../helper'
import { testDatabaseUri, dropTestDatabase } from '../db'

const ROOT = resolve(__dirname, '..', '..')
/** Run the CLI from source with the TypeScript loader this test runs under. */
const LOADER = process.execArgv.filter((arg) => arg.includes('typescript'))

async function warden (args: string[], env: Record<string, string>, stdin: string) {
  const child = spawn(process.execPath, [...LOADER, 'src/cli.ts', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c) => { stdout += c })
  child.stderr.on('data', (c) => { stderr += c })
  child.stdin.end(stdin)
  const [code] = await once(child, 'exit')
  return { code: code as number, stdout, stderr }
}

t.test('warden user create --password-stdin creates an admin the server knows', async (t) => {
  const env = { MONGODB_URI: testDatabaseUri(), LOG_LEVEL: 'silent' }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  const out = await warden(['user', 'create', '--username', 'Root', '--password-stdin', '--role', 'admin'], env, 'an admin passphrase\n')
  t.equal(out.code, 0, out.stderr)
  const created = JSON.parse(out.stdout)
  t.match(created, { id: String, username: 'Root', roles: ['user', 'admin'] })
  t.notMatch(out.stdout + out.stderr, 'an admin passphrase')

  const app = await build(t, env)
  const login = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'root', password: 'an admin passphrase' } })
  t.equal(login.statusCode, 200, 'the trailing newline of stdin is not part of the password')
  const [event] = await app.loginEvents.find({ type: 'register' })
  t.match(event, { outcome: 'success', ip: '127.0.0.1', user_agent: 'warden cli' })
})

t.test('warden user create refuses a weak password with one line', async (t) => {
  const env = { MONGODB_URI: testDatabaseUri(), LOG_LEVEL: 'silent' }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  const out = await warden(['user', 'create', '--username', 'someone', '--password-stdin'], env, 'password\n')
  t.equal(out.code, 1)
  t.match(out.stderr, /^warden: Password is too common[^\n]*\n$/)
})

t.test('warden keys rotate and keys list: a server started afterwards signs with the new key', async (t) => {
  const env = { MONGODB_URI: testDatabaseUri(), LOG_LEVEL: 'silent' }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  const before = await warden(['keys', 'list', '--json'], env, '')
  t.equal(before.code, 0, before.stderr)
  const [first] = JSON.parse(before.stdout)
  t.match(first, { kid: String, alg: 'RS256', state: 'active', generation: 1, encrypted: false })

  const rotated = await warden(['keys', 'rotate', '--json'], env, '')
  t.equal(rotated.code, 0, rotated.stderr)
  const result = JSON.parse(rotated.stdout)
  t.match(result, { kid: String, previous_kid: first.kid, previous_retire_at: String })
  t.not(result.kid, first.kid)

  const listed = await warden(['keys', 'list'], env, '')
  t.equal(listed.code, 0, listed.stderr)
  const lines = listed.stdout.trim().split('\n')
  t.match(lines[0], /^KID\s+ALG\s+STATE/)
  t.match(lines[1], new RegExp(`^${result.kid}\\s+RS256\\s+active`))
  t.match(lines[2], new RegExp(`^${first.kid}\\s+RS256\\s+retiring\\s+\\S+\\s+${result.previous_retire_at}`))

  const app = await build(t, env)
  t.equal(app.tokens.kid, result.kid)
  t.same(app.tokens.jwks.keys.map((k) => k.kid), [result.kid, first.kid])
})

t.test('warden keys rotate with HS256 fails with one line', async (t) => {
  const env = { MONGODB_URI: testDatabaseUri(), LOG_LEVEL: 'silent', JWT_ALG: 'HS256', JWT_SECRET: 'a-test-secret-that-is-at-least-32-bytes-long' }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  const out = await warden(['keys', 'rotate'], env, '')
  t.equal(out.code, 1)
  t.match(out.stderr, /^warden: Key rotation does not apply to JWT_ALG=HS256[^\n]*\n$/)
  t.equal(out.stdout, '')
})

t.test('warden client create --json, then introspection with that client; list and delete', async (t) => {
  const env = { MONGODB_URI: testDatabaseUri(), LOG_LEVEL: 'silent' }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  const created = await warden(['client', 'create', 'billing', '--json'], env, '')
  t.equal(created.code, 0, created.stderr)
  const credentials = JSON.parse(created.stdout)
  t.same(Object.keys(credentials).sort(), ['client_id', 'client_secret'])

  const app = await build(t, env)
  const { tokens } = await signUp(app)
  const introspect = () => app.inject({ method: 'POST', url: '/oauth/introspect', headers: basic(credentials.client_id, credentials.client_secret), payload: { token: tokens.access_token } })
  const res = await introspect()
  t.equal(res.statusCode, 200)
  t.match(res.json(), { active: true, username: 'alice' })

  const listed = await warden(['client', 'list', '--json'], env, '')
  t.equal(listed.code, 0, listed.stderr)
  t.match(JSON.parse(listed.stdout), [{ client_id: credentials.client_id, name: 'billing', created_at: String }])
  t.notMatch(listed.stdout, credentials.client_secret, 'the secret is never shown again')

  const again = await warden(['client', 'create', 'billing'], env, '')
  t.equal(again.code, 1)
  t.match(again.stderr, /^warden: A service client named "billing" already exists\n$/)

  t.equal((await warden(['client', 'delete', credentials.client_id], env, '')).code, 0)
  t.equal((await introspect()).statusCode, 401, 'a deleted client is refused at once')
  const gone = await warden(['client', 'delete', credentials.client_id], env, '')
  t.equal(gone.code, 1)
  t.match(gone.stderr, /^warden: no service client with id \S+\n$/)

  t.equal((await warden(['client', 'create'], env, '')).code, 2, 'a missing name is a usage error')
})

t.test('a KEY_ENCRYPTION_SECRET that does not decrypt the keys stops the CLI and the server with one line', async (t) => {
  const env = { MONGODB_URI: testDatabaseUri(), LOG_LEVEL: 'silent', KEY_ENCRYPTION_SECRET: 'the secret the keys were sealed with!' }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  const made = await warden(['keys', 'list', '--json'], env, '')
  t.equal(made.code, 0, made.stderr)
  t.match(JSON.parse(made.stdout), [{ encrypted: true }])

  const wrong = { ...env, KEY_ENCRYPTION_SECRET: 'not the secret the keys were sealed with' }
  const cli = await warden(['keys', 'list'], wrong, '')
  t.equal(cli.code, 1)
  t.match(cli.stderr, /^warden: KEY_ENCRYPTION_SECRET does not decrypt signing key \S+ \(wrong secret\?\)\n$/)

  const server = spawn(process.execPath, [...LOADER, 'src/server.ts'], { cwd: ROOT, env: { ...process.env, ...wrong, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  server.stderr.on('data', (c) => { stderr += c })
  const [code] = await once(server, 'exit')
  t.equal(code, 1)
  t.match(stderr, /^warden: cannot start: KEY_ENCRYPTION_SECRET does not decrypt signing key \S+ \(wrong secret\?\)\n$/)
})
