import t from 'tap'
import { headerValue } from '../../src/lib/header-value'

t.test('header values: ASCII names unchanged, everything else percent-encoded UTF-8', async (t) => {
  for (const plain of ['alice', 'bob@example.com', 'a+b_c.d-e~f', '6b043d37cad7ddc7cba7d808']) t.equal(headerValue(plain), plain)
  t.equal(headerValue('jürgen'), 'j%C3%BCrgen', 'Latin-1 letters are encoded too')
  t.equal(headerValue('用户名abc'), '%E7%94%A8%E6%88%B7%E5%90%8Dabc')
  t.equal(headerValue('a b,c%d\r\n'), 'a%20b%2Cc%25d%0D%0A', 'separators, percent and line breaks')
  t.equal(headerValue('x\uD800y'), 'x%EF%BF%BDy', 'a lone surrogate becomes U+FFFD instead of throwing')
  for (const text of ['Дмитрий', 'a+b@c', 'ΑΒΓ 100%']) t.equal(decodeURIComponent(headerValue(text)), text)
})
