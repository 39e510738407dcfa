import { createHash, createPublicKey, generateKeyPair, type JsonWebKey, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'

const generate = promisify(generateKeyPair)

export type AsymmetricAlgorithm = 'RS256' | 'ES256' | 'EdDSA'

/** Members of each key type that make up its RFC 7638 thumbprint, in lexicographic order. */
const THUMBPRINT_MEMBERS: Record<string, string[]> = {
  RSA: ['e', 'kty', 'n'],
  EC: ['crv', 'kty', 'x', 'y'],
  OKP: ['crv', 'kty', 'x']
}

/** RFC 7638 JWK SHA-256 thumbprint, base64url: a stable `kid` derived from the public key. */
export function jwkThumbprint (jwk: JsonWebKey): string {
  const members = THUMBPRINT_MEMBERS[jwk.kty ?? '']
  if (members === undefined) throw new Error(`unsupported key type ${String(jwk.kty)}`)
  const canonical = '{' + members.map((m) => `"${m}":${JSON.stringify(jwk[m])}`).join(',') + '}'
  return createHash('sha256').update(canonical).digest('base64url')
}

export interface GeneratedKey {
  kid: string
  privatePem: string
  publicJwk: JsonWebKey
}

async function keyPair (alg: AsymmetricAlgorithm): Promise<{ privateKey: KeyObject, publicKey: KeyObject }> {
  switch (alg) {
    case 'RS256': return generate('rsa', { modulusLength: 2048 })
    case 'ES256': return generate('ec', { namedCurve: 'P-256' })
    case 'EdDSA': return generate('ed25519')
  }
}

/** A fresh signing key for `alg`, named by its thumbprint. */
export async function generateSigningKey (alg: AsymmetricAlgorithm): Promise<GeneratedKey> {
  const { privateKey, publicKey } = await keyPair(alg)
  const publicJwk = publicKey.export({ format: 'jwk' })
  return {
    kid: jwkThumbprint(publicJwk),
    privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicJwk
  }
}

/** SPKI PEM of a public JWK (what JWT verifiers such as jsonwebtoken take). */
export function publicPemFromJwk (jwk: JsonWebKey): string {
  return createPublicKey({ key: jwk, format: 'jwk' }).export({ format: 'pem', type: 'spki' }).toString()
}
