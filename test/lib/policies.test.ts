import t from 'tap'
import { parseDuration } from '../../src/lib/duration'
import { normaliseUsername, usernameKey } from '../../src/lib/username'
import { checkPassword, loadCommonPasswords } from '../../src/lib/password-policy'
import { jwkThumbprint } from '../../src/lib/jwk'

t.test('durations', async (t) => {
  t.equal(parseDuration('900'), 900)
  t.equal(parseDuration('900s'), 900)
  t.equal(parseDuration('15m'), 900)
  t.equal(parseDuration('12h'), 43200)
  t.equal(parseDuration('30d'), 2592000)
  t.equal(parseDuration(' 5m '), 300)
  for (const bad of ['', '-5', '1.5h', '15 minutes', '10w', 'm', '15M']) t.equal(parseDuration(bad), null, bad)
})

t.test('usernames normalise to one identity', async (t) => {
  t.match(normaliseUsername('  Alice '), { display: 'Alice', key: 'alice', skeleton: 'alice' })
  t.equal(normaliseUsername('ａｌｉｃｅ')?.key, 'alice', 'full-width folds to ASCII (NFKC)')
  t.equal(normaliseUsername('Ａlice')?.key, normaliseUsername('ALICE')?.key)
  t.equal(normaliseUsername('josé.o+1@ex-ample')?.display, 'josé.o+1@ex-ample')
  for (const bad of ['ab', 'a'.repeat(65), 'with space', 'tab\there', 'semi;colon', 'quote"', '<script>', '\u0000null']) {
    t.equal(normaliseUsername(bad), null, JSON.stringify(bad))
  }
  t.equal(usernameKey('ÉMILE'), usernameKey('émile'))
})

t.test('password policy', async (t) => {
  t.ok(loadCommonPasswords().size >= 3000, 'ships at least 3,000 common passwords')
  t.equal(checkPassword('correct horse battery staple', 'alice'), null)
  t.equal(checkPassword('1234567', 'alice'), 'too_short')
  t.equal(checkPassword('😀😀😀😀😀😀😀', 'alice'), 'too_short', 'counts characters, not UTF-16 units')
  t.equal(checkPassword('x'.repeat(257), 'alice'), 'too_long')
  t.equal(checkPassword('alice-in-wonderland', 'Alice-In-Wonderland'), 'same_as_username')
  t.equal(checkPassword('iloveyou', 'alice'), 'too_common')
  t.equal(checkPassword('BASEBALL', 'alice'), 'too_common')
})

t.test('JWK thumbprint follows RFC 7638', async (t) => {
  // The example key of RFC 7638 section 3.1 and its published thumbprint.
  const jwk = {
    kty: 'RSA',
    e: 'AQAB',
    n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw'
  }
  t.equal(jwkThumbprint(jwk), 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs')
})
