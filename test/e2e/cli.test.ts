import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { build, PASSWORD, type Teardown } from '../helper'
import { testDatabaseUri, dropTestDatabase } from '../db'
import { freePort } from '../../src/lib/embedded-db'
import { LOADER, ROOT, waitForLog, warden } from './processes'

// Every command is a process of its own, compiled from source as it starts: about a minute and a half
// on an idle two-core machine, several times that on a busy one.
t.setTimeout(600_000)

/** A Warden server process on its own port and the given database, stopped after the test. */
async function startServer (t: Teardown, env: Record<string, string>) {
  const port = await freePort()
  const child = spawn(process.execPath, [...LOADER, 'src/server.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(async () => {
    if (child.exitCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGTERM')
    await exited
  })
  await waitForLog(child, /^Server listening at/)
  const base = `http://127.0.0.1:${port}`
  return async (method: string, path: string, body?: object, token?: string) => {
    const headers: Record<string, string> = {}
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    const text = await res.text()
    return { status: res.status, body: text === '' ? undefined : JSON.parse(text) }
  }
}

t.test('the CLI administers the accounts of a running server', async (t) => {
  const env = { MONGODB_URI: testDatabaseUri(), LOG_LEVEL: 'silent' }
  t.teardown(() => dropTestDatabase(env.MONGODB_URI))
  const http = await startServer(t, env)
  const cli = (...args: string[]) => warden(args, env, '')
  const json = (out: { code: number, stdout: string, stderr: string }) => {
    t.equal(out.code, 0, out.stderr)
    return JSON.parse(out.stdout)
  }

  // an admin made on the command line signs in over HTTP; a weak password is refused with one line
  const [created, weak] = await Promise.all([
    warden(['user', 'create', '--username', 'Root', '--password-stdin', '--role', 'admin'], env, `${PASSWORD}\n`),
    warden(['user', 'create', '--username', 'someone', '--password-stdin'], env, 'password\n')
  ])
  t.match(json(created), { id: String, username: 'Root', roles: ['user', 'admin'] })
  t.notMatch(created.stdout + created.stderr, PASSWORD, 'the password is not echoed')
  t.equal(weak.code, 1)
  t.match(weak.stderr, /^warden: Password is too common[^\n]*\n$/)
  const rootLogin = await http('POST', '/auth/login', { username: 'root', password: PASSWORD })
  t.equal(rootLogin.status, 200, 'the trailing newline of stdin is not part of the password')
  const root = rootLogin.body.access_token as string
  t.equal((await http('GET', '/admin/users', undefined, root)).status, 200)

  t.equal((await http('POST', '/auth/register', { username: 'Bob', password: PASSWORD })).status, 201)
  const bobLogin = async () => http('POST', '/auth/login', { username: 'bob', password: PASSWORD })
  t.equal((await bobLogin()).status, 200)

  // lock, seen by the server's admin API and by any instance that starts
  const locked = json(await cli('user', 'lock', 'BOB', '--reason', 'phished', '--for', '1h', '--json'))
  t.match(locked, { username: 'Bob', locked: true, lock_reason: 'admin', lock_note: 'phished', locked_until: String })
  t.same((await http('GET', '/admin/users?locked=true', undefined, root)).body.items.map((u: { username: string }) => u.username), ['Bob'])
  const fresh = await build(t, env)
  const refused = await fresh.inject({ method: 'POST', url: '/auth/login', payload: { username: 'bob', password: PASSWORD } })
  t.equal(refused.json().error, 'account_locked')

  const unlocked = await cli('user', 'unlock', 'bob')
  t.equal(unlocked.code, 0, unlocked.stderr)
  t.equal(unlocked.stdout, 'unlocked Bob\n')
  t.same((await http('GET', '/admin/users?locked=true', undefined, root)).body.items, [])

  // roles: granted, then taken away
  t.same(json(await cli('user', 'roles', 'bob', '--add', 'admin', '--json')).roles, ['user', 'admin'])
  const promoted = (await bobLogin()).body.access_token as string
  t.equal((await http('GET', '/admin/users', undefined, promoted)).status, 200, 'the next login carries the role')
  const demoted = await cli('user', 'roles', 'bob', '--remove', 'admin')
  t.equal(demoted.stdout, 'Bob: user\n')
  t.equal((await http('GET', '/admin/users', undefined, (await bobLogin()).body.access_token)).status, 403)

  const [listed, table, revoked] = await Promise.all([
    cli('user', 'list', '--json'), cli('user', 'list', '--role', 'admin'), cli('sessions', 'revoke', '--user', 'bob', '--json')
  ])
  const list = json(listed)
  t.same(list.items.map((u: { username: string }) => u.username), ['Bob', 'Root'])
  t.equal(list.next_cursor, null)
  t.match(table.stdout, /^USERNAME\s+ROLES\s+STATUS\s+ID\nRoot\s+user,admin\s+active\s+[0-9a-f]{24}\n$/)
  t.same(json(revoked), { user_id: locked.id, username: 'Bob', revoked: 1 })

  // delete: gone for the server too
  t.same(json(await cli('user', 'delete', 'bob', '--json')), { id: locked.id, username: 'Bob', deleted: true })
  t.equal((await bobLogin()).status, 401)
  const [gone, last] = await Promise.all([cli('user', 'show', 'bob'), cli('user', 'delete', 'root')])
  t.equal(gone.code, 1)
  t.equal(gone.stderr, 'warden: No such user: bob\n')
  t.equal(last.code, 1)
  t.match(last.stderr, /^warden: This would leave no active administrator[^\n]*\n$/)

  const [register] = await fresh.loginEvents.find({ type: 'register', outcome: 'success', username: 'Root' })
  t.match(register, { ip: '127.0.0.1', user_agent: 'warden cli', actor_id: 'cli' })
  const events = (await fresh.loginEvents.find({ userId: locked.id })).reverse()
  t.same(events.filter((e) => e.user_agent === 'warden cli').map((e) => [e.type, e.reason, e.actor_id]), [
    ['lock', 'admin', 'cli'], ['unlock', 'admin', 'cli'], ['admin_update', 'roles', 'cli'], ['admin_update', 'roles', 'cli'],
    ['logout_all', 'admin', 'cli'], ['admin_delete', null, 'cli']
  ], 'the operator of the warden command is the actor')
})
