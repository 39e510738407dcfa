import t from 'tap'
import { build, decodePart, login, PASSWORD, register } from '../helper'
import { eventsWritten, FORM, HOSTILE_ENV, refused } from './world'

/**
 * Names that look like an existing account, by class: each is refused (400 invalid_username) or
 * taken (409 username_taken), never a second account. Classes the route tests already cover
 * (full-width letters, Cyrillic and Latin mixed, dotless i, capital I for l) are left to them.
 */
const LOOKALIKES: Record<string, Array<[string, string]>> = {
  'zero-width and invisible characters': [
    ['U+200B zero-width space', 'ali\u200bce'],
    ['U+200C zero-width non-joiner', 'ali\u200cce'],
    ['U+200D zero-width joiner, at the end', 'alice\u200d'],
    ['U+FEFF byte order mark, inside', 'ali\ufeffce'],
    ['U+2060 word joiner', 'ali\u2060ce'],
    ['U+00AD soft hyphen', 'ali\u00adce'],
    ['U+2062 invisible times', 'ali\u2062ce'],
    ['U+180E Mongolian vowel separator', 'alice\u180e'],
    ['U+034F combining grapheme joiner', 'alice\u034f'],
    ['U+034F combining grapheme joiner, inside', 'ali\u034fce'],
    ['U+FE0F variation selector 16', 'alice\ufe0f'],
    ['U+FE00 variation selector 1', 'ali\ufe00ce'],
    ['U+E0100 variation selector 17', 'alice\u{e0100}'],
    ['U+E0041 tag letter', 'alice\u{e0041}'],
    ['U+3164 Hangul filler', 'alice\u3164'],
    ['U+FFA0 half-width Hangul filler', 'alice\uffa0'],
    ['U+115F Hangul choseong filler', 'alice\u115f'],
    ['U+1160 Hangul jungseong filler', 'ali\u1160ce'],
    ['U+17B4 Khmer inherent vowel', 'alice\u17b4'],
    ['U+2800 braille blank', 'alice\u2800']
  ],
  'direction controls': [
    ['U+202E right-to-left override', '\u202eecila'],
    ['U+202E inside', 'al\u202eeci'],
    ['U+202D left-to-right override', '\u202dalice'],
    ['U+2066..U+2069 isolates', '\u2066alice\u2069'],
    ['U+200F right-to-left mark', 'alice\u200f'],
    ['U+061C Arabic letter mark', 'alice\u061c']
  ],
  'control characters': [
    ['NUL inside', 'ali\u0000ce'],
    ['NUL at the end', 'alice\u0000'],
    ['BEL', '\u0007alice'],
    ['ESC sequence', 'ali\u001b[0mce'],
    ['DEL', 'alice\u007f'],
    ['C1 NEL', 'alice\u0085'],
    ['C1 CSI', 'alice\u009b'],
    ['interlinear annotation', 'alice\ufff9'],
    ['line feed inside', 'ali\nce'],
    ['tab inside', 'ali\tce']
  ],
  'combining marks that hide on a dotted letter': [
    ['i + U+0307 dot above', 'ali\u0307ce'],
    ['j + U+0307, beside an existing "jojo"', 'j\u0307ojo']
  ],
  'compatibility forms that fold onto the name': [
    ['mathematical bold', '𝐚𝐥𝐢𝐜𝐞'],
    ['mathematical sans-serif', '𝖺𝗅𝗂𝖼𝖾'],
    ['circled letters', 'ⓐⓛⓘⓒⓔ'],
    ['modifier letters', 'ᵃˡⁱᶜᵉ'],
    ['ideographic space before', '\u3000alice'],
    ['no-break space after', 'alice\u00a0'],
    ['line separator after', 'alice\u2028'],
    ['U+FEFF byte order mark after (white space to JavaScript)', 'alice\ufeff'],
    ['mixed case', 'aLiCe']
  ],
  'look-alikes of one other script': [
    ['Cherokee ᎪᏞᎥᏟᎬ', 'ᎪᏞᎥᏟᎬ'],
    ['Cyrillic ѕсоре for "scope"', 'ѕсоре'],
    ['Greek ΚΑΤΕ for "kate"', 'ΚΑΤΕ'],
    ['Cyrillic ԁоԁо for "dodo"', 'ԁоԁо'],
    ['digit one for l', 'a1ice'],
    ['digit zero for o', 'd0d0']
  ]
}

/** Existing accounts the look-alikes aim at. */
const EXISTING = ['alice', 'scope', 'kate', 'dodo', 'jojo']

t.test('a name that looks like an existing account is refused or taken, never a second account', async (t) => {
  const app = await build(t, HOSTILE_ENV)
  for (const name of EXISTING) await register(app, name)
  const users = () => app.db.connection.collection('users').countDocuments()
  for (const [kind, names] of Object.entries(LOOKALIKES)) {
    for (const [what, name] of names) {
      for (const [carrier, request] of [
        ['JSON', { payload: { username: name, password: PASSWORD } }],
        ['form', { headers: FORM, payload: `username=${encodeURIComponent(name)}&password=${encodeURIComponent(PASSWORD)}` }]
      ] as const) {
        const res = await app.inject({ method: 'POST', url: '/auth/register', ...request })
        refused(t, res, `${kind}: ${what} (${carrier})`, [400, 409], /^(invalid_username|username_taken)$/)
      }
    }
  }
  t.equal(await users(), EXISTING.length, 'no second account was created')
  const all = await app.db.connection.collection('users').find({}, { projection: { username: 1 } }).toArray()
  t.same(all.map((u) => u.username).sort(), [...EXISTING].sort(), 'only the original names exist')
})

t.test('a name that folds onto an account logs into it; an invisible or look-alike one does not', async (t) => {
  const app = await build(t, HOSTILE_ENV)
  const alice = await register(app, 'alice')
  for (const [what, name] of LOOKALIKES['compatibility forms that fold onto the name']) {
    const tokens = await login(app, name, PASSWORD)
    t.equal(decodePart(tokens.access_token, 1).sub, alice.id, `${what} logs into alice`)
  }
  // A few of each class: every attempt costs a password hash check, as for any unknown name.
  const few = (kind: string) => LOOKALIKES[kind].filter((_, i) => i % 3 === 0)
  const others = [...few('zero-width and invisible characters'), ...few('direction controls'), ...few('control characters'),
    ...few('combining marks that hide on a dotted letter'), ['Cherokee', 'ᎪᏞᎥᏟᎬ'], ['digit one', 'a1ice']]
  for (const [what, name] of others) {
    const res = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: name, password: PASSWORD } })
    refused(t, res, `login as ${what}`, [401], 'invalid_credentials')
  }
  // Each failed attempt is on record, with the name exactly as presented.
  await eventsWritten(app)
  for (const [what, name] of others) {
    const events = await app.loginEvents.find({ username: name.slice(0, 64) })
    t.ok(events.some((e) => e.type === 'login' && e.outcome === 'failure' && e.reason === 'unknown_user' && e.username === name), `an event for ${what}`)
  }
  const own = await app.loginEvents.find({ userId: alice.id })
  t.equal(own.filter((e) => e.type === 'login' && e.outcome === 'failure').length, 0, 'none of them counted against alice')
})
