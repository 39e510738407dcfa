import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto'

/**
 * A private key encrypted at rest: AES-256-GCM under a key derived from a secret with scrypt.
 * Every sealed key has its own salt and IV; the key id is bound as additional authenticated
 * data, so a sealed key copied onto another key's record does not open.
 */
export interface SealedKey {
  /** Format version. */
  v: 1
  kdf: 'scrypt'
  /** scrypt cost parameters, kept so that a later change of defaults still opens old records */
  n: number
  r: number
  p: number
  /** base64 */
  salt: string
  /** base64, 12 bytes */
  iv: string
  /** base64, the GCM authentication tag (16 bytes) */
  tag: string
  /** base64 ciphertext */
  data: string
}

/**
 * scrypt cost: 32 MiB and about 0.1 s, paid once per key and process. The secret is at least
 * 32 bytes (checked by the configuration), so the cost guards human-chosen secrets only.
 */
const SCRYPT = { n: 2 ** 15, r: 8, p: 1 }
const KEY_BYTES = 32
const IV_BYTES = 12

/** The secret does not open a sealed key: wrong secret, or the record was altered. */
export class SealedKeyError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'SealedKeyError'
  }
}

function deriveKey (secret: string, salt: Buffer, cost: { n: number, r: number, p: number }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // maxmem: scrypt needs 128 * N * r bytes; leave room above Node's 32 MiB default
    scrypt(secret, salt, KEY_BYTES, { N: cost.n, r: cost.r, p: cost.p, maxmem: 256 * cost.n * cost.r }, (err, key) => {
      if (err !== null) reject(err)
      else resolve(key)
    })
  })
}

/** Derived keys by salt: a process derives each record's key once. */
export type DerivedKeyCache = Map<string, Promise<Buffer>>

function derived (cache: DerivedKeyCache | undefined, secret: string, salt: string, cost: { n: number, r: number, p: number }): Promise<Buffer> {
  const cacheKey = `${cost.n}:${cost.r}:${cost.p}:${salt}`
  let key = cache?.get(cacheKey)
  if (key === undefined) {
    key = deriveKey(secret, Buffer.from(salt, 'base64'), cost)
    cache?.set(cacheKey, key)
  }
  return key
}

/** Encrypts `plaintext` (a PEM) for the record named `kid`. */
export async function sealKey (plaintext: string, secret: string, kid: string, cache?: DerivedKeyCache): Promise<SealedKey> {
  const salt = randomBytes(16).toString('base64')
  const key = await derived(cache, secret, salt, SCRYPT)
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(Buffer.from(kid, 'utf8'))
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  return {
    v: 1,
    kdf: 'scrypt',
    ...SCRYPT,
    salt,
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    data: data.toString('base64')
  }
}

/** Decrypts a sealed key of the record named `kid`; throws SealedKeyError when the secret does not open it. */
export async function openKey (sealed: SealedKey, secret: string, kid: string, cache?: DerivedKeyCache): Promise<string> {
  if (sealed.v !== 1 || sealed.kdf !== 'scrypt') throw new SealedKeyError(`unknown sealed key format (v=${String(sealed.v)})`)
  const key = await derived(cache, secret, sealed.salt, sealed)
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'))
    decipher.setAAD(Buffer.from(kid, 'utf8'))
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'))
    return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]).toString('utf8')
  } catch {
    throw new SealedKeyError('authentication failed')
  }
}
