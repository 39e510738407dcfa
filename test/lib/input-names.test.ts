import t from 'tap'
import { parseForm } from '../../src/lib/form-encoding'
import { declaredNames, describeProblem, flatNamesProblem, jsonProblem, MAX_JSON_DEPTH } from '../../src/lib/input-names'

t.test('form text is decoded strictly: names given twice are arrays, undecodable text is null', async (t) => {
  t.same({ ...parseForm('a=1&b=x+y&a=2&&c') }, { a: ['1', '2'], b: 'x y', c: '' })
  t.equal(Object.getPrototypeOf(parseForm('a=1')), null, 'no prototype')
  t.same(Object.keys(parseForm('%5F%5Fproto%5F%5F=1') ?? {}), ['__proto__'], 'a decoded __proto__ is an own name, for the caller to refuse')
  for (const bad of ['a=%FF', 'a=%C0%AF', 'a=%ED%A0%80', 'a=%E2%82', 'a=50%', 'a=%zz', '%FF=1']) t.equal(parseForm(bad), null, bad)
  const many = parseForm(Array.from({ length: 20_000 }, () => 'a=x').join('&'))
  t.equal((many?.a as string[]).length, 20_000, 'a name repeated 20,000 times is one array')
})

t.test('flat names: reserved names and bracket syntax', async (t) => {
  t.equal(flatNamesProblem(['username', 'password', 'device_token', 'a.b']), null)
  for (const name of ['__proto__', 'constructor', 'prototype', '__proto__[x]', 'a.__proto__', 'constructor[prototype][x]']) {
    t.same(flatNamesProblem(['ok', name]), { kind: 'reserved', path: `/${name}` }, name)
  }
  for (const name of ['username[$ne]', 'roles[]', 'a[0]', 'a]']) t.same(flatNamesProblem([name]), { kind: 'brackets', path: `/${name}` }, name)
  // on a route: brackets on a name it reads are refused, other bracketed names are unknown names
  const declared = declaredNames({ type: 'object', properties: { username: {}, roles: {} } })
  for (const name of ['username[$ne]', 'roles[]', 'username]']) t.same(flatNamesProblem(['ok', name], declared), { kind: 'brackets', path: `/${name}` }, `${name} on the route`)
  for (const name of ['[s»', 'other[$ne]', 'a]']) t.equal(flatNamesProblem([name], declared), null, `${name}: not a name of the route`)
  t.same(flatNamesProblem(['other[__proto__]'], declared), { kind: 'reserved', path: '/other[__proto__]' }, 'reserved names are refused anywhere')
})

t.test('JSON values: reserved names, depth and lone surrogates, at any depth, without recursion', async (t) => {
  t.equal(jsonProblem({ username: 'alice', roles: ['user', 'admin'], emoji: '\ud83d\ude00' }), null)
  t.same(jsonProblem(JSON.parse('{"a":{"constructor":{"prototype":1}}}')), { kind: 'reserved', path: '/a/constructor' })
  t.same(jsonProblem({ a: [{ prototype: 1 }] }), { kind: 'reserved', path: '/a/0/prototype' })
  t.same(jsonProblem({ roles: ['user', 'x\ud800'] }), { kind: 'surrogate', path: '/roles/1' })
  t.same(jsonProblem({ ['\udc00']: 1 }), { kind: 'surrogate', path: '' })
  const nest = (n: number): unknown => { let v: unknown = 1; for (let i = 0; i < n; i++) v = [v]; return v }
  t.equal(jsonProblem(nest(MAX_JSON_DEPTH)), null, `${MAX_JSON_DEPTH} levels`)
  t.equal(jsonProblem(nest(MAX_JSON_DEPTH + 1))?.kind, 'depth', `${MAX_JSON_DEPTH + 1} levels`)
  t.equal(jsonProblem(nest(100_000))?.kind, 'depth', '100,000 levels: no stack overflow')
  t.equal(describeProblem('body', { kind: 'reserved', path: '/a/constructor' }), 'body/a/constructor is a reserved name')
})
