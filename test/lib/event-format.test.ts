import t from 'tap'
import { csvCell, csvRow, decodeCursor, encodeCursor, exportLines } from '../../src/lib/event-format'
import { deviceFamily } from '../../src/lib/user-agent'

t.test('a cursor round-trips, and anything else is refused', async (t) => {
  const cursor = { at: new Date('2026-11-23T10:00:00.123Z'), id: '6b043d37cad7ddc7cba7d808' }
  const text = encodeCursor(cursor)
  t.match(text, /^[A-Za-z0-9_-]+$/, 'base64url')
  t.same(decodeCursor(text), cursor)
  for (const bad of ['', 'x', '!!!', Buffer.from('123.XYZ').toString('base64url'), Buffer.from('12.6b043d37cad7ddc7cba7d80').toString('base64url'),
    Buffer.from('-1.6b043d37cad7ddc7cba7d808').toString('base64url'), Buffer.from('{"$gt":""}').toString('base64url'), 'A'.repeat(80)]) {
    t.equal(decodeCursor(bad), null, bad)
  }
})

t.test('CSV cells: RFC 4180 quoting, and no formula for a spreadsheet to run', async (t) => {
  t.equal(csvCell('plain'), 'plain')
  t.equal(csvCell(null), '')
  t.equal(csvCell(true), 'true')
  t.equal(csvCell('a,b'), '"a,b"')
  t.equal(csvCell('say "hi"'), '"say ""hi"""')
  t.equal(csvCell('two\nlines'), '"two\nlines"')
  for (const formula of ['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx']) t.equal(csvCell(formula)[0] === '"' ? csvCell(formula)[1] : csvCell(formula)[0], "'", JSON.stringify(formula))
  t.equal(csvCell('=HYPERLINK("x")'), `"'=HYPERLINK(""x"")"`)
  t.equal(csvRow({ id: 'a', username: 'b,c' }), 'a,,,,,"b,c",,,,,,,\r\n')
})

t.test('export lines: a CSV header first, then one line per event', async (t) => {
  async function * two () { yield { id: '1', type: 'login' }; yield { id: '2', type: 'register' } }
  const csv: string[] = []
  for await (const line of exportLines(two(), 'csv')) csv.push(line)
  t.equal(csv.length, 3)
  t.match(csv[0], /^id,type,/)
  const ndjson: string[] = []
  for await (const line of exportLines(two(), 'ndjson')) ndjson.push(line)
  t.same(ndjson, ['{"id":"1","type":"login"}\n', '{"id":"2","type":"register"}\n'])
  const pieces: string[] = []
  for await (const piece of exportLines(two(), 'ndjson', 1024)) pieces.push(piece)
  t.same(pieces, ['{"id":"1","type":"login"}\n{"id":"2","type":"register"}\n'], 'lines gathered into pieces')
})

t.test('device families ignore versions; clients that are not browsers go by their product', async (t) => {
  t.equal(deviceFamily('Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'), 'Firefox on Linux')
  t.equal(deviceFamily('Mozilla/5.0 (X11; Linux x86_64; rv:129.0) Gecko/20100101 Firefox/129.0'), 'Firefox on Linux')
  t.equal(deviceFamily('Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1'), 'Safari on iOS')
  t.equal(deviceFamily('curl/8.5.0'), 'curl')
  t.equal(deviceFamily('okhttp/4.12.0'), 'okhttp')
  t.equal(deviceFamily(null), 'unknown')
  t.equal(deviceFamily('   '), 'unknown')
  t.equal(deviceFamily('(((('), 'other')
})
