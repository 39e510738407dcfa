import t from 'tap'
import { parseBasic } from '../../src/lib/basic-auth'
import { notModified } from '../../src/lib/http-cache'

const header = (raw: string) => `Basic ${Buffer.from(raw).toString('base64')}`

t.test('HTTP Basic client credentials are form-decoded (RFC 6749 2.3.1)', async (t) => {
  t.same(parseBasic(header('client:secret')), { id: 'client', secret: 'secret' })
  t.same(parseBasic(header('my%20client:s%3Acret%2B+x')), { id: 'my client', secret: 's:cret+ x' }, 'percent and plus decoded; the first colon splits')
  t.same(parseBasic(header('id:a:b')), { id: 'id', secret: 'a:b' }, 'a raw colon in the secret')
  t.same(parseBasic(`basic   ${Buffer.from('id:s').toString('base64')}`), { id: 'id', secret: 's' }, 'the scheme is case-insensitive')
  for (const bad of [undefined, '', 'Bearer abc', 'Basic', 'Basic !!!', header('no-colon'), header(':secret'), header('id:'), header('id:%E0%A4%A')]) {
    t.equal(parseBasic(bad), null, String(bad))
  }
})

t.test('If-None-Match matches by weak comparison, lists and *', async (t) => {
  t.ok(notModified('"a"', '"a"'))
  t.ok(notModified('W/"a"', '"a"'))
  t.ok(notModified('"b", "a"', '"a"'))
  t.ok(notModified('*', '"a"'))
  t.notOk(notModified(undefined, '"a"'))
  t.notOk(notModified('"b"', '"a"'))
})
