import t from 'tap'
import { planKeys, retirementTime, RETIREMENT_MARGIN_MS, type KeyTimes } from '../../src/lib/key-lifecycle'
import { openKey, sealKey, SealedKeyError } from '../../src/lib/sealed-key'

const TTL = 15 * 60_000
const key = (generation: number, state: KeyTimes['state'], createdAt: number, retireAt: number | null = null): KeyTimes =>
  ({ kid: `k${generation}`, generation, state, createdAt, retireAt })

t.test('the newest active key signs; a retiring key verifies until its time, then is retired', async (t) => {
  const rotatedAt = 1_000_000
  const retireAt = retirementTime(rotatedAt, TTL)
  t.equal(retireAt, rotatedAt + TTL + RETIREMENT_MARGIN_MS, 'the access-token lifetime plus the margin')
  const keys = [key(1, 'retiring', 0, retireAt), key(2, 'active', rotatedAt), key(0, 'retired', -1, 500)]

  const before = planKeys(keys, retireAt - 1, TTL)
  t.equal(before.signing?.kid, 'k2')
  t.same(before.verifying.map((v) => v.key.kid), ['k2', 'k1'], 'signing key first')
  t.same(before.due, [])
  t.equal(before.nextChangeAt, retireAt)
  t.same(before.states.map((s) => [s.key.kid, s.state]), [['k2', 'active'], ['k1', 'retiring'], ['k0', 'retired']])

  const after = planKeys(keys, retireAt, TTL)
  t.same(after.verifying.map((v) => v.key.kid), ['k2'])
  t.same(after.due.map((k) => k.kid), ['k1'], 'to be recorded as retired')
  t.equal(after.nextChangeAt, Infinity)
})

t.test('an active key left below a newer one retires from its successor\'s creation', async (t) => {
  // a rotation that stopped between storing the new key and demoting the old one
  const plan = planKeys([key(1, 'active', 0), key(2, 'active', 10_000)], 20_000, TTL)
  t.equal(plan.signing?.kid, 'k2')
  t.same(plan.verifying.map((v) => [v.key.kid, v.retireAt]), [['k2', null], ['k1', retirementTime(10_000, TTL)]])
})

t.test('no active key: nothing signs', async (t) => {
  t.equal(planKeys([key(1, 'retired', 0, 5)], 10, TTL).signing, undefined)
  t.equal(planKeys([], 10, TTL).signing, undefined)
})

t.test('a sealed key opens only with its secret and its own kid', async (t) => {
  const secret = 'a key encryption secret of 32+ bytes'
  const pem = '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIP5nY0Jv\n-----END PRIVATE KEY-----\n'
  const sealed = await sealKey(pem, secret, 'kid-1')
  t.notMatch(JSON.stringify(sealed), 'PRIVATE KEY', 'no plaintext')
  t.equal(Buffer.from(sealed.iv, 'base64').length, 12)
  t.equal(Buffer.from(sealed.tag, 'base64').length, 16)
  t.equal(await openKey(sealed, secret, 'kid-1'), pem)
  await t.rejects(openKey(sealed, secret + 'x', 'kid-1'), SealedKeyError, 'wrong secret')
  await t.rejects(openKey(sealed, secret, 'kid-2'), SealedKeyError, 'moved onto another key record')
  const tampered = { ...sealed, data: Buffer.from(Buffer.from(sealed.data, 'base64').map((b, i) => i === 0 ? b ^ 1 : b)).toString('base64') }
  await t.rejects(openKey(tampered, secret, 'kid-1'), SealedKeyError, 'altered ciphertext')
  const again = await sealKey(pem, secret, 'kid-1')
  t.not(again.salt, sealed.salt, 'a fresh salt and IV every time')
  t.not(again.iv, sealed.iv)
})
