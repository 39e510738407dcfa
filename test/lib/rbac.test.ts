import t from 'tap'
import { DEFAULT_ROLES, grants, missing, parseRoleMap, permissionsOf, uncovered, validateRoleMap } from '../../src/lib/rbac'

t.test('wildcards grant every permission under their prefix, and nothing beside it', async (t) => {
  const granted = new Set(['admin:users:*', 'reports:read'])
  t.ok(grants(granted, 'admin:users:read'))
  t.ok(grants(granted, 'admin:users:lock'))
  t.ok(grants(granted, 'reports:read'))
  t.notOk(grants(granted, 'admin:events:read'))
  t.notOk(grants(granted, 'admin:usersx:read'), 'a prefix is whole segments')
  t.notOk(grants(granted, 'reports:write'))
  t.ok(grants(new Set(['*']), 'anything:at:all'))
  t.ok(grants(new Set(['admin:*']), 'admin:*'), 'a wildcard covers itself')
  t.notOk(grants(new Set(['admin:users:*']), 'admin:*'), 'a narrower wildcard does not cover a wider one')
})

t.test('a requirement is met by every listed role and every listed permission', async (t) => {
  t.equal(missing({ permissions: ['admin:users:read'] }, ['admin'], DEFAULT_ROLES), undefined)
  t.equal(missing({ permissions: ['admin:users:read'] }, ['user'], DEFAULT_ROLES), 'the admin:users:read permission')
  t.equal(missing({ roles: ['admin'] }, ['user'], DEFAULT_ROLES), 'the admin role')
  t.equal(missing({}, [], DEFAULT_ROLES), undefined)
  t.same([...permissionsOf(['user', 'admin', 'unknown'], DEFAULT_ROLES)], ['admin:*'])
})

t.test('uncovered: the first permission of some roles the holder lacks', async (t) => {
  const map = { admin: ['admin:*'], user: [], support: ['admin:users:read', 'admin:users:update'], auditor: ['admin:users:read'] }
  t.equal(uncovered(new Set(['admin:*']), ['support', 'auditor', 'user'], map), undefined)
  t.equal(uncovered(new Set(['admin:users:read', 'admin:users:update']), ['auditor'], map), undefined)
  t.equal(uncovered(new Set(['admin:users:read', 'admin:users:update']), ['admin'], map), 'admin:*')
  t.equal(uncovered(new Set(['admin:users:read']), ['support'], map), 'admin:users:update')
})

t.test('role maps from YAML or JSON', async (t) => {
  const yaml = parseRoleMap('admin: ["admin:*"]\nuser: []\nsupport:\n  - admin:users:read\n  - admin:users:read\nguest:\n')
  t.same(yaml, { admin: ['admin:*'], user: [], support: ['admin:users:read'], guest: [] })
  t.ok(Object.isFrozen(yaml))
  t.same(parseRoleMap('{"admin": ["*"], "user": ["reports:read"]}'), { admin: ['*'], user: ['reports:read'] })
})

t.test('a bad role map is refused with one line saying what is wrong', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['', /must map role names/],
    ['- admin', /must map role names/],
    ['admin: [admin:*\nuser: []', /line 2, column 1/],
    ['admin: ["admin:*"]\nadmin: []\nuser: []', /Map keys must be unique/],
    ['admin: ["admin:*"]', /must define the "user" role/],
    ['user: []', /"admin" role must grant "admin:\*"/],
    ['user: []\nadmin: ["admin:users:*"]', /"admin" role must grant "admin:\*"/],
    ['user: []\nadmin: ["admin:*"]\nAdmins: []', /role "Admins": names are/],
    ['user: []\nadmin: "admin:*"', /role "admin": permissions must be a list of strings/],
    ['user: [1]\nadmin: ["admin:*"]', /role "user": permissions must be a list of strings/],
    ['user: ["reports read"]\nadmin: ["admin:*"]', /"reports read" is not a permission/],
    ['user: ["admin:*:read"]\nadmin: ["admin:*"]', /"admin:\*:read" is not a permission/]
  ]
  for (const [text, message] of cases) {
    t.throws(() => parseRoleMap(text), message, JSON.stringify(text))
    try {
      parseRoleMap(text)
    } catch (err) {
      t.notMatch((err as Error).message, /\n/, `one line: ${JSON.stringify(text)}`)
    }
  }
  t.throws(() => validateRoleMap(['admin']), /must map role names/)
})
