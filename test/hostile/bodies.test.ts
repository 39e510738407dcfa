import t from 'tap'
import { build, login, PASSWORD } from '../helper'
import { listen, rawRequest } from '../socket'
import { asInjected, buildWorld, closedCleanly, encodePairs, FORM, HOSTILE_ENV, JSON_TYPE, label, operations, refused, send, snapshot, validRequest, withQuery } from './world'

const BODY_LIMIT = 64 * 1024

/** UTF-8 byte sequences that are not UTF-8: each would decode to U+FFFD, so two of them would compare equal. */
const NOT_UTF8: Array<[string, Buffer]> = [
  ['a lone continuation byte', Buffer.from([0x80])],
  ['0xFF', Buffer.from([0xff])],
  ['0xFE', Buffer.from([0xfe])],
  ['an overlong "/" (C0 AF)', Buffer.from([0xc0, 0xaf])],
  ['an overlong "A" (C1 81)', Buffer.from([0xc1, 0x81])],
  ['a three-byte overlong "/" (E0 80 AF)', Buffer.from([0xe0, 0x80, 0xaf])],
  ['a four-byte overlong (F0 80 80 AF)', Buffer.from([0xf0, 0x80, 0x80, 0xaf])],
  ['an encoded surrogate (ED A0 80)', Buffer.from([0xed, 0xa0, 0x80])],
  ['a code point over U+10FFFF (F4 90 80 80)', Buffer.from([0xf4, 0x90, 0x80, 0x80])],
  ['a five-byte sequence', Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80])],
  ['a truncated sequence (E2 82)', Buffer.from([0xe2, 0x82])]
]

/** JSON escapes that decode to unpaired UTF-16 surrogates, which no UTF-8 text can carry. */
const LONE_SURROGATES = ['\\ud800', '\\udfff', '\\udbff\\u0041', '\\udc00\\ud800', 'x\\ud83d']

t.test('size and shape', async (t) => {
  const world = await buildWorld(t)
  const { app } = world
  const ops = await operations(app)

  t.test('deep, huge and over-long bodies are refused in the contract shape and change nothing', async (t) => {
    const withBody = ops.filter((op) => op.body.length > 0)
    const before = await snapshot(app)
    for (const op of withBody) {
      const { url, headers, query, body = {} } = validRequest(world, op)
      const target = withQuery(url, encodePairs(query))
      const json = { ...headers, ...JSON_TYPE }
      const [field] = op.body
      const deep: Array<[string, string]> = [
        ['10,000 nested arrays as the body', `${'['.repeat(10_000)}${']'.repeat(10_000)}`],
        ['10,000 nested objects as the body', `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`],
        [`30,000 nested arrays in ${field}`, JSON.stringify(body).replace(`"${field}":`, `"${field}":${'['.repeat(30_000)}${']'.repeat(30_000)},"x":`)],
        ['10,000 nested objects in an unknown property', JSON.stringify(body).replace(/}$/, `,"extra":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`)],
        ['9 levels in an unknown property', JSON.stringify(body).replace(/}$/, `,"extra":${'['.repeat(8)}${']'.repeat(8)}}`)]
      ]
      for (const [name, payload] of deep) {
        const res = await send(app, op, { url: target, headers: json, payload })
        refused(t, res, `${label(op)}: ${name}`, [400], /^(bad_request|validation_error)$/)
      }
      const huge = await send(app, op, { url: target, headers: json, payload: JSON.stringify({ ...body, padding: 'x'.repeat(BODY_LIMIT) }) })
      refused(t, huge, `${label(op)}: a JSON body over 64 KiB`, [413], 'payload_too_large')
      const hugeForm = await send(app, op, { url: target, headers: { ...headers, ...FORM }, payload: `padding=${'x'.repeat(BODY_LIMIT)}` })
      refused(t, hugeForm, `${label(op)}: a form body over 64 KiB`, [413], 'payload_too_large')
      for (const name of op.body) {
        const max = op.maxLengths[`body:${name}`]
        if (max === undefined) continue
        const res = await send(app, op, { url: target, headers: json, payload: { ...body, [name]: 'a'.repeat(max + 1) } })
        refused(t, res, `${label(op)}: ${name} of ${max + 1} characters`, [400], 'validation_error')
      }
    }
    t.same(await snapshot(app), before, 'nothing stored changed')
  })

  t.test('every string the document lets in has a bound, and one character over it is 400 validation_error', async (t) => {
    const unbounded = ops.flatMap((op) => op.unbounded.map((name) => `${label(op)} ${name}`))
    t.same(unbounded, [], 'no string input without maxLength')
    const before = await snapshot(app)
    for (const op of ops) {
      for (const [where, max] of Object.entries(op.maxLengths)) {
        const [carrier, name] = where.split(':')
        if (max === undefined || carrier === 'body' || carrier === 'header') continue
        const long = 'a'.repeat(max + 1)
        const { url, headers, query, body } = validRequest(world, op, carrier === 'path' ? long : undefined)
        const attacked = withQuery(url, encodePairs(carrier === 'query' ? { ...query, [name]: long } : query))
        const res = await send(app, op, { url: attacked, headers, payload: body })
        refused(t, res, `${label(op)}: ${where} of ${max + 1} characters`, [400], 'validation_error')
      }
    }
    t.same(await snapshot(app), before, 'nothing stored changed')
  })
})

t.test('encoding', async (t) => {
  const world = await buildWorld(t)
  const { app } = world
  const ops = (await operations(app)).filter((op) => op.body.length > 0)

  t.test('a body in another content type is 415; an empty or broken JSON body is 400 bad_request', async (t) => {
    const types = ['text/plain', 'text/html', 'application/xml', 'text/json', 'application/jsonx', 'application/json-seq',
      'application/x-www-form-urlencodedx', 'multipart/form-data; boundary=x', 'application/octet-stream', 'application/x-ndjson',
      'image/png', 'application/javascript', '*/*', 'application/*', 'garbage', ';', 'application/json/x']
    const broken = ['{"username":', "{'username':'alice'}", '{"username":"alice",}', '{"a":1}}', 'NaN', 'undefined', '{"a":1e999999}x',
      '{"username":"\\x41"}', '{"username":"alice" /* comment */}', '{"username":"\n"}', '{"username":"alice"}garbage',
      '{"username":"alice"}{"username":"root"}', '["alice"', '"', '{', '}', '\u0000', '{"username":0x10}', '{"username":01}']
    const before = await snapshot(app)
    for (const op of ops) {
      const { url, headers, query, body = {} } = validRequest(world, op)
      const target = withQuery(url, encodePairs(query))
      for (const type of types) {
        const res = await send(app, op, { url: target, headers: { ...headers, 'content-type': type }, payload: JSON.stringify(body) })
        refused(t, res, `${label(op)}: content-type ${type}`, [415], 'unsupported_media_type')
      }
      const empty = await send(app, op, { url: target, headers: { ...headers, ...JSON_TYPE }, payload: '' })
      refused(t, empty, `${label(op)}: an empty JSON body`, [400], /^(bad_request|validation_error)$/)
      for (const text of broken) {
        const res = await send(app, op, { url: target, headers: { ...headers, ...JSON_TYPE }, payload: text })
        refused(t, res, `${label(op)}: ${JSON.stringify(text)}`, [400], /^(bad_request|validation_error)$/)
      }
    }
    t.same(await snapshot(app), before, 'nothing stored changed')
    t.ok(await login(app, 'alice', PASSWORD), 'alice still logs in')
  })

  t.test('invalid UTF-8 and lone surrogates in any body field are 400 bad_request, never a look-alike of another value', async (t) => {
    const before = await snapshot(app)
    for (const op of ops) {
      const { url, headers, query, body = {} } = validRequest(world, op)
      const target = withQuery(url, encodePairs(query))
      for (const field of op.body.filter((name) => typeof body[name] === 'string')) {
        const marker = '\u0001MARK\u0001'
        const text = JSON.stringify({ ...body, [field]: `${String(body[field])}${marker}` })
        const [head, tail] = text.split(JSON.stringify(marker).slice(1, -1))
        const others = encodePairs(body as Record<string, string>).filter((p) => !p.startsWith(`${field}=`))
        for (const [name, bytes] of NOT_UTF8) {
          const payload = Buffer.concat([Buffer.from(head), bytes, Buffer.from(tail)])
          const res = await send(app, op, { url: target, headers: { ...headers, ...JSON_TYPE }, payload })
          refused(t, res, `${label(op)} ${field}: JSON with ${name}`, [400], 'bad_request')
          const raw = await send(app, op, { url: target, headers: { ...headers, ...FORM }, payload: Buffer.concat([Buffer.from(`${[...others, field].join('&')}=`), bytes]) })
          refused(t, raw, `${label(op)} ${field}: form with raw ${name}`, [400], 'bad_request')
          const encoded = [...bytes].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('')
          const percent = await send(app, op, { url: target, headers: { ...headers, ...FORM }, payload: [...others, `${field}=${encoded}`].join('&') })
          refused(t, percent, `${label(op)} ${field}: form with percent-encoded ${name}`, [400], 'bad_request')
        }
        for (const escape of LONE_SURROGATES) {
          const res = await send(app, op, { url: target, headers: { ...headers, ...JSON_TYPE }, payload: `${head}${escape}${tail}` })
          refused(t, res, `${label(op)} ${field}: ${escape}`, [400], 'bad_request')
        }
      }
    }
    t.same(await snapshot(app), before, 'nothing stored changed')
  })
})

t.test('bytes on the wire', async (t) => {
  const app = await build(t, HOSTILE_ENV)

  t.test('two different invalid passwords are not one password', async (t) => {
    const json = (password: Buffer | string) => Buffer.concat([Buffer.from('{"username":"eve","password":"'), Buffer.from(PASSWORD), Buffer.from(password), Buffer.from('"}')])
    const pairs: Array<[string, Buffer | string, Buffer | string, Record<string, string>]> = [
      ['bytes FF and FE', Buffer.from([0xff]), Buffer.from([0xfe]), JSON_TYPE],
      ['surrogates D800 and DBFF', '\\ud800', '\\udbff', JSON_TYPE]
    ]
    for (const [name, first, second, type] of pairs) {
      const res = await app.inject({ method: 'POST', url: '/auth/register', headers: type, payload: json(first) })
      refused(t, res, `register with ${name}`, [400], 'bad_request')
      const other = await app.inject({ method: 'POST', url: '/auth/login', headers: type, payload: json(second) })
      refused(t, other, `login with the other of ${name}`, [400, 401])
      t.equal(await app.users.findByUsernameKey('eve'), null, `${name}: no account`)
    }
    const form = await app.inject({ method: 'POST', url: '/auth/register', headers: FORM, payload: `username=eve&password=${encodeURIComponent(PASSWORD)}%FF` })
    refused(t, form, 'register with %FF', [400], 'bad_request')
    const literal = await app.inject({ method: 'POST', url: '/auth/register', headers: FORM, payload: `username=eve&password=${encodeURIComponent(PASSWORD)}%25FF` })
    t.equal(literal.statusCode, 201, '"%FF" as text is a password of its own')
    const wrong = await app.inject({ method: 'POST', url: '/auth/login', headers: FORM, payload: `username=eve&password=${encodeURIComponent(PASSWORD)}%FF` })
    refused(t, wrong, 'the undecodable %FF does not log in as the text "%FF"', [400], 'bad_request')
  })

  t.test('a chunked body over the limit is 413 through a real socket, and the connection ends', async (t) => {
    const port = await listen(app)
    const chunk = 'x'.repeat(16 * 1024)
    const chunks = Array.from({ length: 6 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`).join('')
    const head = 'POST /auth/register HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n'
    const first = '{"username":"'
    const res = await rawRequest(port, `${head}${first.length.toString(16)}\r\n${first}\r\n${chunks}0\r\n\r\n`, { untilClosed: true })
    refused(t, asInjected(res), 'a chunked body over 64 KiB', [413], 'payload_too_large')
    closedCleanly(t, res, 'a chunked body over 64 KiB')
    const declared = await rawRequest(port, `POST /auth/register HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${BODY_LIMIT * 16}\r\n\r\n{"username":`, { untilClosed: true })
    refused(t, asInjected(declared), 'a Content-Length over 64 KiB, refused before the body arrives', [413], 'payload_too_large')
    closedCleanly(t, declared, 'a Content-Length over 64 KiB')
  })
})
