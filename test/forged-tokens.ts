/**
 * Tokens every verifier of Warden's tokens must refuse with `invalid_token`: Warden's own hook
 * and the verifier relying services use run the same cases.
 */
import { createHmac, createPublicKey, createSign, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { decodePart, forge } from './helper'

const YEAR = 365 * 86400
const now = (): number => Math.floor(Date.now() / 1000)

/** A key pair of the attacker's own, for tokens that point a verifier at it. */
const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 })
const attackerJwk = attacker.publicKey.export({ format: 'jwk' })

function signWith (keys: { privateKey: KeyObject }, header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const encode = (part: unknown) => Buffer.from(JSON.stringify(part)).toString('base64url')
  const input = `${encode(header)}.${encode(payload)}`
  return `${input}.${createSign('RSA-SHA256').update(input).sign(keys.privateKey).toString('base64url')}`
}

/** Signs any header and payload with Warden's RS256 key, with no library second-guessing them. */
export async function signRaw (app: FastifyInstance, header: Record<string, unknown>, payload: Record<string, unknown>): Promise<string> {
  const key = await app.signingKeys.get(app.tokens.kid)
  if (key === null || key.privatePem === null) throw new Error('no signing key')
  const encode = (part: unknown) => Buffer.from(JSON.stringify(part)).toString('base64url')
  const input = `${encode({ alg: 'RS256', typ: 'at+jwt', kid: key.kid, ...header })}.${encode(payload)}`
  return `${input}.${createSign('RSA-SHA256').update(input).sign(key.privatePem as string).toString('base64url')}`
}

/**
 * Name → token, each one a forgery, a tampering or a token Warden's configuration never
 * issues. `token` is a real access token of user `sub` from `app` (RS256).
 */
export async function forgedTokens (app: FastifyInstance, token: string, sub: string): Promise<Record<string, string>> {
  const [h, p, s] = token.split('.')
  const claims = decodePart(token, 1)
  const elevated = Buffer.from(JSON.stringify({ ...claims, roles: ['admin'] })).toString('base64url')
  const publicPem = createPublicKey({ key: app.tokens.jwks.keys[0] as JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
  const confusedHeader = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'at+jwt', kid: app.tokens.kid })).toString('base64url')
  const confused = `${confusedHeader}.${p}.${createHmac('sha256', publicPem).update(`${confusedHeader}.${p}`).digest('base64url')}`
  const noneHeader = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url')
  const payload = { iss: app.config.jwt.issuer, aud: app.config.jwt.audience[0], sub, iat: now(), exp: now() + 60, jti: 'j', sid: 's', roles: ['user'], preferred_username: 'alice' }
  return {
    'payload changed (roles elevated)': `${h}.${elevated}.${s}`,
    'signature changed': `${h}.${p}.${s.slice(0, -4)}AAAA`,
    'signature stripped': `${h}.${p}.`,
    'alg none': `${noneHeader}.${p}.`,
    'alg confusion: HS256 keyed with the public key': confused,
    'not a JWT': 'not-a-jwt',
    'garbage segments': 'a.b.c',
    'wrong issuer': await forge(app, { sub, iss: 'https://evil.example' }),
    'wrong audience': await forge(app, { sub, aud: 'another-service' }),
    'wrong typ (plain JWT, e.g. an ID token)': await forge(app, { sub }, { typ: 'JWT' }),
    'missing sid': await forge(app, { sub, sid: undefined }),
    'roles not an array': await forge(app, { sub, roles: 'admin' }),
    'iat an hour ahead': await forge(app, { sub, iat: now() + 3600, exp: now() + 3600 + 900 }),
    'iat and exp ten years ahead': await forge(app, { sub, iat: now() + 10 * YEAR, exp: now() + 10 * YEAR + 900 }),
    'a ten-year lifetime': await forge(app, { sub, iat: now(), exp: now() + 10 * YEAR }),
    'nbf an hour ahead': await forge(app, { sub, nbf: now() + 3600 }),
    'unknown crit': await signRaw(app, { crit: ['urn:example:must-understand'], 'urn:example:must-understand': true }, payload),
    'empty crit': await signRaw(app, { crit: [] }, payload),
    'own key embedded (jwk)': signWith(attacker, { alg: 'RS256', typ: 'at+jwt', kid: app.tokens.kid, jwk: attackerJwk }, payload),
    'own key by URL (jku)': signWith(attacker, { alg: 'RS256', typ: 'at+jwt', kid: 'attacker', jku: 'https://evil.example/jwks.json' }, payload),
    'own certificate by URL (x5u)': signWith(attacker, { alg: 'RS256', typ: 'at+jwt', kid: 'attacker', x5u: 'https://evil.example/cert.pem' }, payload)
  }
}
