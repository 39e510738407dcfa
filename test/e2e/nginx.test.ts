import t, { type Test } from 'tap'
import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { resolve } from 'node:path'
import { build, decodePart, forge, PASSWORD, type Teardown, type Tokens } from '../helper'
import { ROOT } from '../admin'
import { testDatabaseUri, dropTestDatabase } from '../db'
import { rawRequest, type RawResponse } from '../socket'
import { nginxBinary, startNginx, startWarden } from '../servers'

/**
 * nginx as a real process in front of a Warden server process, with the configuration the README
 * shows (deploy/nginx/warden.conf, included as it is) and a protected upstream that answers with
 * the request it received. Everything goes through nginx: Warden's own API as well as /api/.
 */

const WARDEN_CONF = resolve(__dirname, '..', '..', 'deploy', 'nginx', 'warden.conf')
const ASCII = /^[\x21-\x7e]*$/
const IDENTITY = ['x-auth-user-id', 'x-auth-username', 'x-auth-roles']

interface Received {
  method: string
  url: string
  /** name and value of every header, as they arrived (names lower-cased) */
  headers: Array<[string, string]>
  body: string
}

/** The protected service: records every request and answers 200 with it as JSON. */
async function startUpstream (t: Teardown): Promise<{ port: number, received: Received[] }> {
  const received: Received[] = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => { body += chunk })
    req.on('end', () => {
      const headers: Array<[string, string]> = []
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i].toLowerCase(), req.rawHeaders[i + 1]])
      const seen = { method: req.method ?? '', url: req.url ?? '', headers, body }
      received.push(seen)
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(seen))
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
  return { port: (server.address() as AddressInfo).port, received }
}

/** The X-Auth-* headers (or X_Auth_*, which some frameworks read as the same) that reached the upstream. */
function identityOf (seen: Received | undefined): Array<[string, string]> {
  return seen === undefined ? [] : seen.headers.filter(([name]) => /^x[-_]auth[-_]/.test(name))
}

t.test('nginx auth_request in front of Warden (deploy/nginx/warden.conf)', async (t) => {
  nginxBinary() // fails the test, saying how to install it, when nginx is missing

  const uri = testDatabaseUri()
  t.teardown(() => dropTestDatabase(uri))
  const warden = await startWarden(t, { MONGODB_URI: uri, ADMIN_USERNAME: ROOT.username, ADMIN_PASSWORD: ROOT.password })
  const upstream = await startUpstream(t)
  const nginx = await startNginx(t, [
    `upstream warden { server ${new URL(warden.url).host}; keepalive 4; }`,
    `upstream backend { server 127.0.0.1:${upstream.port}; }`,
    `server { listen 127.0.0.1:{{PORT}}; include "${WARDEN_CONF}"; }`
  ].join('\n'))

  const send = (method: string, path: string, { token, body }: { token?: string, body?: unknown } = {}) => {
    const headers: Record<string, string> = {}
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    return fetch(nginx.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  }
  /** A request written byte for byte: header names as given, repeated ones included. */
  const raw = (path: string, headerLines: string[], { method = 'GET', body = '' } = {}): Promise<RawResponse> =>
    rawRequest(nginx.port, [
      `${method} ${path} HTTP/1.1`, 'Host: localhost', 'Connection: close', ...headerLines,
      ...(body === '' ? [] : ['Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`]), '', body
    ].join('\r\n'))

  let count = 0
  /** A path of /api/ no other request uses, so that the upstream's records tell whether it arrived. */
  const fresh = (): string => `/api/case-${++count}?q=1`
  const reached = (path: string): Received | undefined => upstream.received.find((seen) => seen.url === path)

  async function signUp (username: string): Promise<{ id: string, username: string, tokens: Tokens }> {
    const created = await send('POST', '/auth/register', { body: { username, password: PASSWORD } })
    if (created.status !== 201) throw new Error(`register ${username} through nginx: ${created.status} ${await created.text()}`)
    const user = await created.json() as { id: string, username: string }
    return { ...user, tokens: await logIn(username, PASSWORD) }
  }
  async function logIn (username: string, password: string): Promise<Tokens> {
    const res = await send('POST', '/auth/login', { body: { username, password } })
    if (res.status !== 200) throw new Error(`login ${username} through nginx: ${res.status} ${await res.text()}`)
    return await res.json() as Tokens
  }

  /** Warden's own answer to `token` (none: no Authorization), asked directly: what nginx should pass on. */
  const direct = async (token?: string): Promise<string> =>
    await (await fetch(`${warden.url}/auth/verify`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })).text()
  /** The body is the contract's `{error, message}` with `code`, exactly the one Warden gives. */
  function wardenBody (t: Test, body: string, code: string, expected: string): void {
    const parsed = JSON.parse(body) as Record<string, unknown>
    t.same(Object.keys(parsed).sort(), ['error', 'message'], 'the contract\'s error shape')
    t.equal(parsed.error, code, `error ${code}`)
    t.equal(body, expected, 'Warden\'s body, byte for byte')
  }

  const alice = await signUp('alice')
  const admin = await logIn(ROOT.username, ROOT.password)

  t.test('Warden\'s own API answers through nginx', async (t) => {
    t.equal(alice.username, 'alice', 'registered through nginx')
    t.ok(alice.tokens.access_token, 'logged in through nginx')
    const me = await send('GET', '/users/me', { token: alice.tokens.access_token })
    t.equal(me.status, 200)
    t.equal((await me.json() as { id: string }).id, alice.id)
    t.equal((await send('GET', '/.well-known/jwks.json')).status, 200)
    const metrics = await send('GET', '/metrics')
    t.equal(metrics.status, 403, '/metrics is not served through nginx')
    t.notMatch(await metrics.text(), /warden_/, 'not even partly')
  })

  t.test('no token: 401 with the challenge and the contract\'s body, and the upstream never sees it', async (t) => {
    for (const method of ['GET', 'POST', 'DELETE']) {
      const path = fresh()
      const answer = await raw(path, [], { method, body: method === 'GET' ? '' : '{"some":"data"}' })
      t.equal(answer.status, 401, `${method}: 401`)
      t.equal(answer.headers['www-authenticate'], 'Bearer realm="warden"', `${method}: the RFC 6750 challenge, once`)
      t.match(answer.headers['content-type'], /^application\/json/, `${method}: JSON`)
      wardenBody(t, answer.body, 'missing_token', await direct())
      t.equal(reached(path), undefined, `${method}: the upstream was not asked`)
    }
  })

  t.test('a valid token: the upstream gets the identity in X-Auth-*, and the request as sent', async (t) => {
    const path = fresh()
    const res = await send('GET', path, { token: alice.tokens.access_token })
    t.equal(res.status, 200)
    const seen = reached(path)
    if (seen === undefined) throw new Error('the upstream was not reached')
    t.same(identityOf(seen), [['x-auth-user-id', alice.id], ['x-auth-username', 'alice'], ['x-auth-roles', 'user']], 'the three headers, once each')
    t.equal(seen.method, 'GET')

    const posted = fresh()
    const withBody = await send('POST', posted, { token: alice.tokens.access_token, body: { note: 'hello' } })
    t.equal(withBody.status, 200, 'a POST is checked too (the check itself is a GET without the body)')
    const post = reached(posted)
    t.equal(post?.method, 'POST')
    t.equal(post?.body, '{"note":"hello"}', 'the body reaches the upstream untouched')
    t.same(identityOf(post).map(([name]) => name), IDENTITY)
  })

  t.test('roles: comma-separated in X-Auth-Roles, as /users/me lists them', async (t) => {
    const path = fresh()
    t.equal((await send('GET', path, { token: admin.access_token })).status, 200)
    const me = await (await send('GET', '/users/me', { token: admin.access_token })).json() as { id: string, roles: string[] }
    const headers = new Map(identityOf(reached(path)))
    t.equal(headers.get('x-auth-user-id'), me.id)
    t.equal(headers.get('x-auth-username'), ROOT.username)
    t.same(headers.get('x-auth-roles')?.split(',').map(decodeURIComponent), me.roles)
    t.ok(me.roles.includes('admin'))
  })

  t.test('a non-Latin username arrives percent-encoded and decodes to the exact name', async (t) => {
    for (const name of ['Дмитрий', '王小明', '用户名abc']) {
      const user = await signUp(name)
      t.equal(user.username, name, `${name}: stored as typed`)
      const path = fresh()
      t.equal((await send('GET', path, { token: user.tokens.access_token })).status, 200)
      const headers = new Map(identityOf(reached(path)))
      const value = headers.get('x-auth-username') ?? ''
      t.ok(ASCII.test(value), `${name}: sent as ASCII (${value})`)
      t.not(value, name)
      t.equal(decodeURIComponent(value), name, `${name}: decodeURIComponent gives the name back`)
      t.equal(headers.get('x-auth-user-id'), user.id)
    }
  })

  t.test('X-Auth-* headers sent by the client never reach the upstream', async (t) => {
    const root = await (await send('GET', '/users/me', { token: admin.access_token })).json() as { id: string }
    const spoof = [
      `X-Auth-User-Id: ${root.id}`,
      'x-auth-username: root',
      'X-AUTH-ROLES: user,admin',
      'X-Auth-Roles: admin',
      `X_Auth_User_Id: ${root.id}`,
      'X_Auth_Roles: admin'
    ]

    const anonymous = fresh()
    const without = await raw(anonymous, spoof)
    t.equal(without.status, 401, 'without a token: refused')
    t.equal(reached(anonymous), undefined, 'and the upstream never asked')

    const withToken = fresh()
    const res = await raw(withToken, [`Authorization: Bearer ${alice.tokens.access_token}`, ...spoof])
    t.equal(res.status, 200, 'with a valid token: let through')
    const seen = reached(withToken)
    t.same(identityOf(seen), [['x-auth-user-id', alice.id], ['x-auth-username', 'alice'], ['x-auth-roles', 'user']],
      'only Warden\'s values: none of the client\'s, under any spelling')

    const garbage = fresh()
    t.equal((await raw(garbage, ['Authorization: Bearer not-a-token', ...spoof])).status, 401, 'with a bad token: refused')
    t.equal(reached(garbage), undefined)
  })

  t.test('a locked account: 403 account_locked until it is unlocked', async (t) => {
    const bob = await signUp('bob')
    const before = fresh()
    t.equal((await send('GET', before, { token: bob.tokens.access_token })).status, 200, 'works before the lock')

    const lock = await send('POST', `/admin/users/${bob.id}/lock`, { token: admin.access_token, body: { reason: 'test' } })
    t.equal(lock.status, 200, 'locked through the admin API, through nginx')
    const path = fresh()
    const res = await send('GET', path, { token: bob.tokens.access_token })
    t.equal(res.status, 403)
    t.match(res.headers.get('content-type'), /^application\/json/)
    wardenBody(t, await res.text(), 'account_locked', await direct(bob.tokens.access_token))
    t.equal(reached(path), undefined, 'the upstream was not asked')

    t.equal((await send('POST', `/admin/users/${bob.id}/unlock`, { token: admin.access_token })).status, 200)
    const after = fresh()
    t.equal((await send('GET', after, { token: bob.tokens.access_token })).status, 200, 'works again once unlocked')
    t.ok(reached(after))
  })

  t.test('expired, revoked, forged and garbage tokens: 401 with Warden\'s code', async (t) => {
    // An in-process instance on the same database, only to sign with Warden's key (as time passing would).
    const signer = await build(t, { MONGODB_URI: uri })
    const claims = decodePart(alice.tokens.access_token, 1)
    const now = Math.floor(Date.now() / 1000)
    const expired = await forge(signer, { ...claims, iat: now - 3600, exp: now - 1800 })
    const [header, payload, signature] = alice.tokens.access_token.split('.')
    const otherSignature = signature.startsWith('A') ? `B${signature.slice(1)}` : `A${signature.slice(1)}`
    const carol = await signUp('carol')
    t.equal((await send('POST', '/auth/logout-all', { token: carol.tokens.access_token })).status, 204)

    const cases: Array<[string, string, string]> = [
      ['expired', expired, 'token_expired'],
      ['revoked (logout-all)', carol.tokens.access_token, 'token_revoked'],
      ['bad signature', `${header}.${payload}.${otherSignature}`, 'invalid_token'],
      ['garbage', 'garbage', 'invalid_token'],
      ['not even base64', '%%%.***.!!!', 'invalid_token']
    ]
    for (const [what, token, code] of cases) {
      const path = fresh()
      const res = await raw(path, [`Authorization: Bearer ${token}`])
      t.equal(res.status, 401, `${what}: 401`)
      wardenBody(t, res.body, code, await direct(token))
      t.match(res.headers['www-authenticate'], /^Bearer realm="warden", error="invalid_token", error_description="[^"]*"$/, `${what}: one challenge naming the error`)
      t.equal(reached(path), undefined, `${what}: the upstream was not asked`)
    }
  })
})
