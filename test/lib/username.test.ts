import t from 'tap'
import { normaliseUsername, usernameKey, usernameSkeleton, checkUsername, USERNAME_MIN_LENGTH, USERNAME_MAX_LENGTH } from '../../src/lib/username'

t.test('the key is a full Unicode case folding: ß is ss, final sigma is sigma', async (t) => {
  t.equal(usernameKey('STRASSE'), 'strasse')
  t.equal(usernameKey('straße'), usernameKey('STRASSE'))
  t.equal(usernameKey('Straẞe'), usernameKey('strasse'), 'capital sharp s')
  t.equal(usernameKey('ΣΊΣΥΦΟΣ'), usernameKey('σίσυφος'), 'Greek final sigma folds like sigma')
  t.equal(usernameKey('ﬁnn'), usernameKey('FINN'), 'ligature (NFKC and folding)')
  t.not(usernameKey('alıce'), usernameKey('alice'), 'dotless i is its own letter (the skeleton catches it)')
  t.equal(usernameKey('ALİCE'), usernameKey('alice'), 'Turkish capital dotted I folds to i')
  t.equal(usernameKey('İlker'), usernameKey('ilker'))
  t.equal(usernameKey('ALI\u0307CE'), usernameKey('alice'), 'I and a combining dot above is İ')
  t.not(usernameKey('ali\u0307ce'), usernameKey('alice'), 'a dot typed after i is a look-alike, not the same name')
  t.not(usernameKey('AŻ'), usernameKey('AZ'), 'a dot above a letter without one is kept')
})

t.test('single-script names of any script are accepted', async (t) => {
  const names = ['alice', 'Дмитрий', 'алиса', '王小明', '用户名abc', 'たなか太郎', 'タナカ', 'ユーザー名', '김철수', 'alice한국',
    'नमस्ते', 'محمد', 'สมชาย', 'αλέξης', 'jürgen', 'josé.o+1@ex-ample', 'Иван_2000', 'x-y_z.1']
  for (const name of names) t.ok(normaliseUsername(name), name)
})

t.test('mixed-script names are refused', async (t) => {
  const names = ['alісе', 'ΑLICE', 'paypaӏ', 'иванi', 'aliceΩ', 'иван漢字', 'ελληνικάlatin', 'pаypal']
  for (const name of names) {
    t.equal(normaliseUsername(name), null, name)
    t.equal(checkUsername(name), 'mixed_scripts', name)
  }
})

t.test('length and characters', async (t) => {
  t.equal(USERNAME_MIN_LENGTH, 3)
  t.equal(USERNAME_MAX_LENGTH, 64)
  t.equal(checkUsername('ab'), 'length')
  t.equal(checkUsername('a'.repeat(65)), 'length')
  t.equal(checkUsername('a'.repeat(64)), null)
  t.equal(checkUsername('王'.repeat(64)), null, 'counted in characters, not bytes')
  t.equal(checkUsername('with space'), 'characters')
  t.equal(checkUsername('\u0301abc'), 'characters', 'a mark must follow a letter or digit')
  t.equal(checkUsername('a\u0300\u0301\u0302\u0303\u0304\u0306bc'), 'characters', 'no stack of marks')
  t.equal(checkUsername('ab\u0308\u0308c'), 'characters', 'no repeated mark')
  t.equal(checkUsername('ab\u200dc'), 'characters', 'no invisible joiner')
})

t.test('look-alike names share a skeleton', async (t) => {
  const same: Array<[string, string]> = [
    ['alice', 'alıce'],
    ['alice', 'AIice'],
    ['ape', 'аре'],
    ['straße', 'STRASSE'],
    ['bob1', 'bobl'],
    ['modern', 'rnodern'],
    ['coco', 'сосо'],
    ['Alice', 'alice']
  ]
  for (const [a, b] of same) t.equal(usernameSkeleton(a), usernameSkeleton(b), `${a} ~ ${b}`)
  const distinct: Array<[string, string]> = [['alice', 'bob'], ['дмитрий', 'dmitry'], ['王小明', '王小朋']]
  for (const [a, b] of distinct) t.not(usernameSkeleton(a), usernameSkeleton(b), `${a} !~ ${b}`)
})
