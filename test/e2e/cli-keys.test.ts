import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { build } from '../helper'
import { testDatabaseUri, dropTestDatabase } from '../db'
import { LOADER, ROOT, warden } from './processes'

// every command is a process that loads Warden from source: slow on a busy machine
t.setTimeout(300_000)

t.test('warden keys rotate and keys list: a server started afterwards signs with the new key', async (t) => {
  const env = { MONGODB_URI: testDatabaseUri(), LOG_LEVEL: 'silent' }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  const first = await build(t, env)
  const oldKid = first.tokens.kid
  await first.close()

  const rotated = await warden(['keys', 'rotate', '--json'], env, '')
  t.equal(rotated.code, 0, rotated.stderr)
  const result = JSON.parse(rotated.stdout)
  t.match(result, { kid: String, previous_kid: oldKid, previous_retire_at: String })
  t.not(result.kid, oldKid)

  const listed = await warden(['keys', 'list'], env, '')
  t.equal(listed.code, 0, listed.stderr)
  const lines = listed.stdout.trim().split('\n')
  t.match(lines[0], /^KID\s+ALG\s+STATE/)
  t.match(lines[1], new RegExp(`^${result.kid}\\s+RS256\\s+active`))
  t.match(lines[2], new RegExp(`^${oldKid}\\s+RS256\\s+retiring\\s+\\S+\\s+${result.previous_retire_at}`))
  t.equal(lines.length, 3)

  const app = await build(t, env)
  t.equal(app.tokens.kid, result.kid)
  t.same(app.tokens.jwks.keys.map((k) => k.kid), [result.kid, oldKid])
})

t.test('warden keys rotate with HS256 fails with one line', async (t) => {
  const env = { MONGODB_URI: testDatabaseUri(), LOG_LEVEL: 'silent', JWT_ALG: 'HS256', JWT_SECRET: 'a-test-secret-that-is-at-least-32-bytes-long' }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  const out = await warden(['keys', 'rotate'], env, '')
  t.equal(out.code, 1)
  t.match(out.stderr, /^warden: Key rotation does not apply to JWT_ALG=HS256[^\n]*\n$/)
  t.equal(out.stdout, '')
})

t.test('a KEY_ENCRYPTION_SECRET that does not decrypt the keys stops the CLI and the server with one line', async (t) => {
  const env = { MONGODB_URI: testDatabaseUri(), LOG_LEVEL: 'silent', KEY_ENCRYPTION_SECRET: 'the secret the keys were sealed with!' }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  const app = await build(t, env)
  t.match(await app.keys.list(), [{ encrypted: true }])
  await app.close()

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
