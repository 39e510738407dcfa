import t from 'tap'
import { warden } from './processes'

// Each case is a process of its own, compiled from source as it starts.
t.setTimeout(240_000)

t.test('bad arguments: exit code 2 and one line on stderr', async (t) => {
  const env = { MONGODB_URI: 'mongodb://127.0.0.1:1/unused', LOG_LEVEL: 'silent' }
  const cases = [
    ['user', 'lock'],
    ['user', 'lock', 'bob', '--until', 'tomorrow'],
    ['user', 'lock', 'bob', '--until', '2001-01-01T00:00:00Z'],
    ['user', 'lock', 'bob', '--for', 'a while'],
    ['user', 'lock', 'bob', '--until', '2099-01-01T00:00:00Z', '--for', '1h'],
    ['user', 'list', '--limit', '0'],
    ['user', 'list', '--locked', '--unlocked'],
    ['user', 'roles', 'bob', '--set', 'admin', '--add', 'support'],
    ['user', 'roles', 'bob', '--remove', 'user'],
    ['user', 'create', '--username', 'x'],
    ['user', 'frobnicate'],
    ['sessions', 'revoke'],
    ['--no-such-option']
  ]
  const results = await Promise.all(cases.map((args) => warden(args, env, '')))
  cases.forEach((args, i) => {
    t.equal(results[i].code, 2, args.join(' '))
    t.match(results[i].stderr, /^warden: [^\n]+\n$/, args.join(' '))
    t.equal(results[i].stdout, '', args.join(' '))
  })
})

t.test('warden --help and each command\'s --help document the commands', async (t) => {
  const env = { LOG_LEVEL: 'silent' }
  const [top, user, lock, revoke] = await Promise.all([['--help'], ['user', '--help'], ['user', 'lock', '--help'], ['sessions', 'revoke', '--help']].map((args) => warden(args, env, '')))
  t.equal(top.code, 0)
  for (const command of ['user', 'sessions']) t.match(top.stdout, new RegExp(`\\n  ${command} `))
  t.match(top.stdout, /Exit codes: 0 success, 1 failure.*2 usage/)
  for (const sub of ['create', 'list', 'show', 'lock', 'unlock', 'roles', 'delete']) t.match(user.stdout, new RegExp(`\\n  ${sub} `), sub)
  t.match(lock.stdout, /--reason <text>[\s\S]*--until <iso-date>[\s\S]*--for <duration>[\s\S]*--json/)
  t.match(revoke.stdout, /--user <user>/)
})
