import net from 'node:net'
import t from 'tap'
import { basic, bearer, build, login, PASSWORD, register } from '../helper'
import { listen, rawRequest } from '../socket'
import { asInjected, buildWorld, closedCleanly, eventsWritten, HOSTILE_ENV, label, operations, refused, snapshot, validRequest, encodePairs, withQuery } from './world'

/** An HTTP/1.1 request written by hand; `head` holds the header lines after Host. */
function request (method: string, path: string, head: string[], body: string | Buffer = ''): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: localhost', ...head]
  if (body.length > 0 && !head.some((h) => /^(content-length|transfer-encoding):/i.test(h))) lines.push(`Content-Length: ${Buffer.byteLength(body)}`)
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), Buffer.isBuffer(body) ? body : Buffer.from(body)])
}

/** Opens an event stream and resolves with everything up to its first event, then hangs up. */
function firstEvent (port: number, data: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => { socket.write(data) })
    let text = ''
    const timer = setTimeout(() => { socket.destroy(); resolve(text) }, 5000)
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1')
      if (/\r\n\r\n/.test(text) && (!text.startsWith('HTTP/1.1 200') || /\nevent: \w+\n[\s\S]*?\n\n/.test(text))) {
        clearTimeout(timer)
        socket.destroy()
        resolve(text)
      }
    })
    socket.on('error', (err) => { clearTimeout(timer); reject(err) })
  })
}

t.test('two Authorization headers on any protected route: 401, and the route does nothing', async (t) => {
  const world = await buildWorld(t)
  const { app } = world
  const port = await listen(app)
  const ops = (await operations(app)).filter((op) => op.security !== 'none')
  t.ok(ops.length >= 15, `${ops.length} protected operations`)
  const before = await snapshot(app)
  for (const op of ops) {
    const { url, headers, query, body } = validRequest(world, op)
    const valid = headers.authorization
    const others = op.security === 'bearer'
      ? ['Bearer forged.token.value', `Bearer ${world.admin.token}`, basic(world.client.id, world.client.secret).authorization]
      : ['Basic Zm9yZ2VkOnNlY3JldA==', `Bearer ${world.alice.tokens.access_token}`, valid]
    const payload = body === undefined ? '' : JSON.stringify(body)
    const type = body === undefined ? [] : ['Content-Type: application/json']
    for (const other of others) {
      for (const [first, second] of [[valid, other], [other, valid]]) {
        const res = await rawRequest(port, request(op.method, withQuery(url, encodePairs(query)), [...type, `Authorization: ${first}`, `authorization: ${second}`], payload))
        const wanted = op.security === 'bearer' ? 'invalid_token' : 'invalid_client'
        refused(t, asInjected(res), `${label(op)}: ${first.slice(0, 10)}... then ${second.slice(0, 10)}...`, [401], wanted)
        t.ok(res.headers['www-authenticate'], `${label(op)}: a challenge`)
      }
    }
  }
  t.same(await snapshot(app), before, 'nothing stored changed')
})

t.test('framing', async (t) => {
  const app = await build(t, HOSTILE_ENV)
  await register(app, 'alice')
  const port = await listen(app)

  t.test('headers over the limit: 431 in the contract shape, the connection closed, nothing done', async (t) => {
    const before = await snapshot(app)
    const body = JSON.stringify({ username: 'mallory', password: PASSWORD })
    const cases: Array<[string, string[]]> = [
      ['one 20 KiB cookie', ['Content-Type: application/json', `Cookie: a=${'x'.repeat(20_000)}`]],
      ['an Authorization header of 20 KiB', ['Content-Type: application/json', `Authorization: Bearer ${'x'.repeat(20_000)}`]],
      ['1,000 small headers', ['Content-Type: application/json', ...Array.from({ length: 1000 }, (_, i) => `X-H${i}: ${'v'.repeat(16)}`)]],
      ['a 20 KiB header name', ['Content-Type: application/json', `X-${'n'.repeat(20_000)}: 1`]]
    ]
    for (const [name, head] of cases) {
      const res = await rawRequest(port, request('POST', '/auth/register', head, body), { untilClosed: true })
      refused(t, asInjected(res), name, [431], 'header_too_large')
      closedCleanly(t, res, name)
    }
    const long = await rawRequest(port, `GET /users/me/login-history?cursor=${'c'.repeat(20_000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`, { untilClosed: true })
    refused(t, asInjected(long), 'a 20 KiB request target', [414, 431])
    closedCleanly(t, long, 'a 20 KiB request target')
    t.same(await snapshot(app), before, 'nothing stored changed')
    t.equal(await app.users.findByUsernameKey('mallory'), null, 'no account')
  })

  t.test('request smuggling shapes: 400 bad_request, the connection closed, the hidden request never runs', async (t) => {
    const hidden = request('POST', '/auth/register', ['Content-Type: application/json'], JSON.stringify({ username: 'mallory', password: PASSWORD })).toString('latin1')
    const chunked = (text: string) => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n0\r\n\r\n`
    const json = 'Content-Type: application/json'
    const cases: Array<[string, string]> = [
      ['Content-Length and Transfer-Encoding', `${request('POST', '/auth/login', [json, 'Content-Length: 6', 'Transfer-Encoding: chunked']).toString('latin1')}0\r\n\r\n${hidden}`],
      ['Transfer-Encoding and Content-Length', `${request('POST', '/auth/login', [json, 'Transfer-Encoding: chunked', `Content-Length: ${hidden.length + 5}`]).toString('latin1')}0\r\n\r\n${hidden}`],
      ['two different Content-Lengths', `${request('POST', '/auth/login', [json, 'Content-Length: 2', `Content-Length: ${hidden.length + 2}`]).toString('latin1')}{}${hidden}`],
      ['two equal Content-Lengths', `${request('POST', '/auth/login', [json, 'Content-Length: 2', 'Content-Length: 2']).toString('latin1')}{}${hidden}`],
      ['a Content-Length list', `${request('POST', '/auth/login', [json, 'Content-Length: 2, 2']).toString('latin1')}{}${hidden}`],
      ['a signed Content-Length', `${request('POST', '/auth/login', [json, 'Content-Length: +2']).toString('latin1')}{}${hidden}`],
      ['a negative Content-Length', `${request('POST', '/auth/login', [json, 'Content-Length: -1']).toString('latin1')}{}${hidden}`],
      ['a hexadecimal Content-Length', `${request('POST', '/auth/login', [json, 'Content-Length: 0x2']).toString('latin1')}{}${hidden}`],
      ['Transfer-Encoding: xchunked', `${request('POST', '/auth/login', [json, 'Transfer-Encoding: xchunked']).toString('latin1')}${chunked('{}')}${hidden}`],
      ['Transfer-Encoding: chunked, identity', `${request('POST', '/auth/login', [json, 'Transfer-Encoding: chunked, identity']).toString('latin1')}${chunked('{}')}${hidden}`],
      ['Transfer-Encoding with a space before the colon', `${request('POST', '/auth/login', [json, 'Transfer-Encoding : chunked']).toString('latin1')}${chunked('{}')}${hidden}`],
      ['Transfer-Encoding folded onto a second line', `${request('POST', '/auth/login', [json, 'Transfer-Encoding:', ' chunked']).toString('latin1')}${chunked('{}')}${hidden}`],
      ['a chunk size that is not hexadecimal', `${request('POST', '/auth/login', [json, 'Transfer-Encoding: chunked']).toString('latin1')}zz\r\n{}\r\n0\r\n\r\n${hidden}`],
      ['a chunk longer than its size', `${request('POST', '/auth/login', [json, 'Transfer-Encoding: chunked']).toString('latin1')}1\r\n{}\r\n0\r\n\r\n${hidden}`],
      ['a bare CR in a header', `POST /auth/login HTTP/1.1\r\nHost: localhost\r\nX-A: 1\rContent-Length: 0\r\n\r\n${hidden}`],
      ['a bare LF ending a header line', `POST /auth/login HTTP/1.1\r\nHost: localhost\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${hidden}`]
    ]
    const before = await snapshot(app)
    for (const [name, data] of cases) {
      const res = await rawRequest(port, data, { untilClosed: true, limitMs: 4000 })
      refused(t, asInjected(res), name, [400], 'bad_request')
      closedCleanly(t, res, name)
    }
    t.same(await snapshot(app), before, 'nothing stored changed')
    t.equal(await app.users.findByUsernameKey('mallory'), null, 'the hidden registration never ran')
  })

  t.test('a Content-Length shorter than the body: the first request fails as JSON, the rest as HTTP; nothing runs', async (t) => {
    const body = JSON.stringify({ username: 'mallory', password: PASSWORD })
    const before = await snapshot(app)
    const res = await rawRequest(port, request('POST', '/auth/register', ['Content-Type: application/json', 'Content-Length: 12'], body), { untilClosed: true })
    refused(t, asInjected(res), 'the truncated body', [400], 'bad_request')
    t.ok(res.closed, 'the connection is closed after the garbage that follows')
    t.equal(res.timedOut, false)
    t.notMatch(res.received, /HTTP\/1\.1 [25]\d\d/, 'no success and no server error on the connection')
    t.same(await snapshot(app), before, 'nothing stored changed')
  })
})

t.test('client address headers are ignored without TRUST_PROXY: rotating them escapes no throttle or limit', async (t) => {
  const world = await buildWorld(t, { THROTTLE_THRESHOLD: '3' })
  const { app } = world
  const spoofs = (i: number): Record<string, string> => ({
    'x-forwarded-for': `203.0.113.${i}, 198.51.100.${i}`,
    forwarded: `for=192.0.2.${i};proto=https`,
    'x-real-ip': `192.0.2.${i}`,
    'true-client-ip': `192.0.2.${i}`,
    'cf-connecting-ip': `192.0.2.${i}`,
    'x-client-ip': `192.0.2.${i}`,
    'x-cluster-client-ip': `192.0.2.${i}`
  })
  for (let i = 1; i <= 3; i++) {
    const res = await app.inject({ method: 'POST', url: '/auth/login', headers: spoofs(i), payload: { username: 'alice', password: `wrong password ${i}` } })
    refused(t, res, `failure ${i}`, [401], 'invalid_credentials')
  }
  for (let i = 4; i <= 8; i++) {
    const res = await app.inject({ method: 'POST', url: '/auth/login', headers: spoofs(i), payload: { username: 'alice', password: `wrong password ${i}` } })
    refused(t, res, `attempt ${i} from a "new" address`, [429], 'too_many_attempts')
    t.ok(Number(res.headers['retry-after']) > 0, 'with Retry-After')
  }
  // ...nor does a made-up device token, in the body or as the cookie, operator text included.
  for (const token of ['d'.repeat(43), '{"$ne":null}', '[object Object]', 'j:{"$gt":""}']) {
    const body = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'alice', password: 'wrong again', device_token: token } })
    refused(t, body, `a made-up device_token ${token}`, [429], 'too_many_attempts')
    const cookie = await app.inject({ method: 'POST', url: '/auth/login', cookies: { warden_device: token }, payload: { username: 'alice', password: 'wrong again' } })
    refused(t, cookie, `a made-up device cookie ${token}`, [429], 'too_many_attempts')
  }
  const right = await app.inject({ method: 'POST', url: '/auth/login', headers: spoofs(99), payload: { username: 'alice', password: PASSWORD } })
  refused(t, right, 'the right password from a "new" address is throttled too', [429], 'too_many_attempts')
  const events = await app.loginEvents.find({ username: 'alice' }, 200)
  t.ok(events.length >= 17, 'every attempt recorded')
  t.ok(events.every((e) => e.ip === '127.0.0.1'), 'every event has the real client address')

  // A successful login records the socket's address in the session, whatever the headers say.
  await register(app, 'bob')
  const bob = await app.inject({ method: 'POST', url: '/auth/login', headers: spoofs(7), payload: { username: 'bob', password: PASSWORD } })
  t.equal(bob.statusCode, 200)
  const sessions = await app.inject({ url: '/users/me/sessions', headers: bearer(bob.json().access_token) })
  t.same(sessions.json().items.map((s: { ip: string }) => s.ip), ['127.0.0.1'], 'the session has the real address')

  // Loopback-only metrics are not opened by claiming to be loopback.
  const remote = await app.inject({ url: '/metrics', remoteAddress: '203.0.113.50', headers: { 'x-forwarded-for': '127.0.0.1', 'x-real-ip': '127.0.0.1', forwarded: 'for=127.0.0.1' } })
  refused(t, remote, 'metrics from a remote address claiming loopback', [403], 'forbidden')
})

t.test('the auth rate limit counts the socket address, not the headers', async (t) => {
  const app = await build(t, { RATE_LIMIT_MAX: '0', RATE_LIMIT_AUTH_MAX: '3' })
  const statuses: number[] = []
  for (let i = 1; i <= 6; i++) {
    const res = await app.inject({ method: 'POST', url: '/auth/unlock/request', headers: { 'x-forwarded-for': `203.0.113.${i}`, 'x-real-ip': `203.0.113.${i}` }, payload: { username: `nobody${i}` } })
    statuses.push(res.statusCode)
    if (res.statusCode === 429) refused(t, res, `request ${i}`, [429], 'too_many_attempts')
  }
  t.same(statuses, [202, 202, 202, 429, 429, 429], 'the fourth request is limited, whatever address it claims')
})

t.test('what a client claims', async (t) => {
  const world = await buildWorld(t)
  const { app } = world
  const port = await listen(app)

  t.test('client-sent X-Auth-* headers never reach an answer or an identity', async (t) => {
    const forged = { 'x-auth-user-id': world.admin.id, 'x-auth-username': 'root', 'x-auth-roles': 'admin', 'x-auth-request-user': 'root', 'x-user': 'root', 'x-remote-user': 'root' }
    const verify = await app.inject({ url: '/auth/verify', headers: { ...forged, ...bearer(world.alice.tokens.access_token) } })
    t.equal(verify.statusCode, 204)
    t.equal(verify.headers['x-auth-user-id'], world.alice.id, 'the token\'s user, not the header\'s')
    t.equal(verify.headers['x-auth-username'], 'alice')
    t.equal(verify.headers['x-auth-roles'], 'user')
    const anonymous = await app.inject({ url: '/auth/verify', headers: forged })
    refused(t, anonymous, 'verify without a token but with X-Auth-* headers', [401], 'missing_token')
    for (const name of Object.keys(forged)) t.notOk(anonymous.headers[name], `no ${name} on a refusal`)
    const me = await app.inject({ url: '/users/me', headers: { ...forged, ...bearer(world.alice.tokens.access_token) } })
    t.equal(me.json().id, world.alice.id, '/users/me is the token\'s user')
    const admin = await app.inject({ url: '/admin/users', headers: { ...forged, ...bearer(world.alice.tokens.access_token) } })
    refused(t, admin, 'admin route with a user token and X-Auth-Roles: admin', [403], 'forbidden')
    // Sent twice on the wire, the client's headers still change nothing, and the answer has one of each.
    const raw = await rawRequest(port, request('GET', '/auth/verify', [`Authorization: Bearer ${world.alice.tokens.access_token}`,
      `X-Auth-User-Id: ${world.admin.id}`, 'X-Auth-User-Id: other', 'X-Auth-Roles: admin', 'X-Auth-Roles: root']))
    t.equal(raw.status, 204)
    t.equal(raw.headers['x-auth-user-id'], world.alice.id, 'one X-Auth-User-Id, the token\'s')
    t.equal(raw.headers['x-auth-roles'], 'user', 'one X-Auth-Roles, the token\'s')
  })

  t.test('a hostile Last-Event-ID gets a snapshot of the revocation feed, or 400 when it is too long', async (t) => {
    const auth = `Authorization: ${basic(world.client.id, world.client.secret).authorization}`
    const ids = ['{"$gt":""}', '{"$ne":null}', '$where', '.*', '000000000000000000000000', 'ffffffffffffffffffffffff', '-1', '\xff\xfe', `${'0'.repeat(23)}\u00e9`]
    for (const id of ids) {
      const opening = await firstEvent(port, Buffer.from(`GET /oauth/revocations HTTP/1.1\r\nHost: localhost\r\n${auth}\r\nLast-Event-ID: ${id}\r\n\r\n`, 'latin1'))
      t.match(opening, /^HTTP\/1\.1 200 [\s\S]*\nevent: snapshot\n/, `Last-Event-ID ${JSON.stringify(id)}: a full snapshot`)
    }
    const long = await rawRequest(port, `GET /oauth/revocations HTTP/1.1\r\nHost: localhost\r\n${auth}\r\nLast-Event-ID: ${'a'.repeat(65)}\r\n\r\n`)
    refused(t, asInjected(long), 'a Last-Event-ID of 65 characters', [400], 'validation_error')
  })

  t.test('Host header oddities: never a 5xx, never reflected into metadata', async (t) => {
    const hosts = ['evil.example', '', 'localhost:99999', '[::1', 'a b', 'localhost@evil.example', 'evil.example/..', `${'h'.repeat(4000)}.example`, 'xn--80ak6aa92e.com', '127.0.0.1:80 evil', 'localhost,evil.example']
    for (const host of hosts) {
      for (const path of ['/.well-known/oauth-authorization-server', '/auth/unlock?token=x']) {
        const res = await rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`)
        t.ok(res.status > 0 && res.status < 500, `Host ${JSON.stringify(host.slice(0, 30))} ${path}: ${res.status}`)
        if (res.status >= 400) refused(t, asInjected(res), `Host ${JSON.stringify(host.slice(0, 30))}`)
        t.notMatch(res.body, /evil|h{100}/, `Host ${JSON.stringify(host.slice(0, 30))}: not reflected`)
      }
    }
    const absolute = await rawRequest(port, 'GET http://evil.example/.well-known/oauth-authorization-server HTTP/1.1\r\nHost: localhost\r\n\r\n')
    t.ok(absolute.status < 500, `absolute-form target: ${absolute.status}`)
    t.notMatch(absolute.body, /evil/, 'the target\'s host is not reflected')
    const doubled = await rawRequest(port, 'GET //evil.example/.well-known/jwks.json HTTP/1.1\r\nHost: localhost\r\n\r\n')
    t.ok(doubled.status < 500, `a path starting with //: ${doubled.status}`)
    if (doubled.status >= 400) refused(t, asInjected(doubled), 'a path starting with //')
  })

  t.test('invalid UTF-8, NUL and control bytes in paths, query strings and headers: 4xx in the contract shape', async (t) => {
    const admin = `Authorization: Bearer ${world.admin.token}`
    const user = `Authorization: Bearer ${world.alice.tokens.access_token}`
    const bytes = (text: string) => Buffer.from(text, 'latin1')
    const before = await snapshot(app)
    const paths: Array<[string, string, string]> = [
      ['percent-encoded 0xFF in an id', 'DELETE', `/admin/users/${world.alice.id.slice(0, 23)}%FF`],
      ['percent-encoded overlong "/" in an id', 'DELETE', `/admin/users/%C0%AF${world.alice.id}`],
      ['percent-encoded surrogate in an id', 'POST', `/admin/users/%ED%A0%80${world.alice.id}/lock`],
      ['percent-encoded NUL in an id', 'POST', `/admin/users/${world.alice.id}%00/lock`],
      ['percent-encoded NUL in a session id', 'DELETE', `/users/me/sessions/${world.alice.spareSessionId}%00`],
      ['raw 0xFF in an id', 'DELETE', `/admin/users/${world.alice.id}\xff`],
      ['raw 0xC0 0xAF in a path', 'GET', '/admin/users/\xc0\xaf'],
      ['a truncated percent-encoding', 'DELETE', `/admin/users/${world.alice.id}%E2%82`]
    ]
    for (const [name, method, path] of paths) {
      const res = await rawRequest(port, bytes(`${method} ${path} HTTP/1.1\r\nHost: localhost\r\n${path.startsWith('/users') ? user : admin}\r\nContent-Length: 0\r\n\r\n`))
      refused(t, asInjected(res), name, [400, 404], /^(bad_request|not_found|validation_error)$/)
      t.equal(res.timedOut, false, `${name}: answered`)
    }
    const queries: Array<[string, string, string]> = [
      ['percent-encoded 0xFF', '/admin/users', 'q=al%FF'],
      ['percent-encoded overlong', '/admin/users', 'q=%C0%AF'],
      ['percent-encoded surrogate', '/admin/login-events', 'username=%ED%A0%80'],
      ['a lone surrogate pair half', '/admin/login-events', 'username=%F0%9F'],
      ['percent-encoded 0xFF in a name', '/admin/users', 'q%FF=al'],
      ['a bad percent-encoding', '/users/me/login-history', 'cursor=%zz'],
      ['a percent-encoded NUL in a cursor', '/users/me/login-history', 'cursor=%00']
    ]
    for (const [name, path, query] of queries) {
      const res = await rawRequest(port, `GET ${path}?${query} HTTP/1.1\r\nHost: localhost\r\n${path.startsWith('/users') ? user : admin}\r\n\r\n`)
      refused(t, asInjected(res), `query with ${name}`, [400], /^(bad_request|validation_error)$/)
    }
    const headers: Array<[string, Buffer]> = [
      ['raw 0xFF in a bearer token', bytes(`GET /auth/verify HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \xff\xfe${world.alice.tokens.access_token}\r\n\r\n`)],
      ['an overlong sequence in a bearer token', bytes(`GET /users/me HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${world.alice.tokens.access_token}\xc0\xaf\r\n\r\n`)],
      ['raw 0xFF in Basic credentials', bytes(`POST /oauth/introspect HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic \xff\xff\xff\xff\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"token":1}`)],
      ['NUL in a header value', bytes(`GET /auth/verify HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${world.alice.tokens.access_token}\x00\r\n\r\n`)],
      ['a control byte in a header value', bytes('GET /auth/verify HTTP/1.1\r\nHost: localhost\r\nX-A: a\x01b\r\n\r\n')],
      ['0xFF in a header name', bytes('GET /auth/verify HTTP/1.1\r\nHost: localhost\r\nX-\xff: 1\r\n\r\n')],
      ['a space in a header name', bytes('GET /auth/verify HTTP/1.1\r\nHost: localhost\r\nX A: 1\r\n\r\n')],
      ['NUL in the request target', bytes('GET /auth/verify\x00 HTTP/1.1\r\nHost: localhost\r\n\r\n')],
      ['a control byte in the request target', bytes('GET /auth/\x7fverify HTTP/1.1\r\nHost: localhost\r\n\r\n')]
    ]
    for (const [name, data] of headers) {
      const res = await rawRequest(port, data)
      refused(t, asInjected(res), name, [400, 401], /^(bad_request|invalid_token|invalid_client)$/)
      t.equal(res.timedOut, false, `${name}: answered`)
    }
    t.same(await snapshot(app), before, 'nothing stored changed')
    // A user agent in bytes that are not UTF-8 is recorded as Node reads them (Latin-1), never dropped.
    const payload = JSON.stringify({ username: 'alice', password: 'wrong pass' })
    const ua = await rawRequest(port, bytes(`POST /auth/login HTTP/1.1\r\nHost: localhost\r\nUser-Agent: agent\xff\xfe\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n${payload}`))
    t.equal(ua.status, 401)
    await eventsWritten(app)
    const [event] = await app.loginEvents.find({ userId: world.alice.id, type: 'login', outcome: 'failure' })
    t.equal(event?.user_agent, 'agent\u00ff\u00fe', 'the attempt is recorded with its user agent')
    t.ok(await login(app, 'alice', PASSWORD), 'alice still logs in')
  })
})
