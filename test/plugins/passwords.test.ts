import t from 'tap'
import argon2 from 'argon2'
import passwords from '../../plugins/passwords'
import { bare } from '../helper'

t.test('hashes with argon2id at the configured cost and verifies', async (t) => {
  const app = await bare(t, { ARGON2_MEMORY_KIB: '20000' })
  await app.register(passwords)
  await app.ready()
  const hash = await app.passwords.hash('a fine passphrase')
  t.match(hash, /^\$argon2id\$v=19\$m=20000,p=1,t=2\$/)
  t.equal(await app.passwords.verify(hash, 'a fine passphrase'), true)
  t.equal(await app.passwords.verify(hash, 'another passphrase'), false)
  t.equal(await app.passwords.verify('not a hash', 'a fine passphrase'), false, 'a malformed hash is a wrong password, not an error')
  t.equal(await app.passwords.verifyDummy('a fine passphrase'), false)
})

t.test('weaker stored hashes need a rehash; current ones do not', async (t) => {
  const app = await bare(t)
  await app.register(passwords)
  await app.ready()
  const weak = await argon2.hash('pw', { type: argon2.argon2id, memoryCost: 4096, timeCost: 1, parallelism: 1 })
  t.equal(app.passwords.needsRehash(weak), true)
  t.equal(app.passwords.needsRehash(await app.passwords.hash('pw')), false)
})
