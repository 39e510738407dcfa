/**
 * The peer: the same protected check written the common Express way, with passport-jwt and
 * jsonwebtoken. It verifies Warden's tokens with Warden's published key (JWKS → PEM) and the
 * same checks: algorithm, signature, `typ` at+jwt, issuer, audience, expiry and the claims
 * Warden requires, then answers like GET /auth/verify: 204 with the X-Auth-* headers.
 *
 * Environment: HOST, PORT, PEER_JWK (one public JWK as JSON), PEER_ISSUER, PEER_AUDIENCE
 * (comma-separated), PEER_ALG.
 */
import { createPublicKey, type JsonWebKey } from 'node:crypto'
import express from 'express'
import passport from 'passport'
import { ExtractJwt, Strategy as JwtStrategy } from 'passport-jwt'
import type { Algorithm } from 'jsonwebtoken'
import { bindLifecycle, listenAddress } from './lifecycle'

interface Principal {
  userId: string
  username: string
  rolesHeader: string
}

const REQUIRED_CLAIMS = ['iss', 'aud', 'sub', 'iat', 'exp', 'jti', 'sid', 'roles']

function required (name: string): string {
  const value = process.env[name]
  if (value === undefined || value === '') throw new Error(`${name} is required`)
  return value
}

/** `complete: true` makes jsonwebtoken hand over the header too, so that `typ` can be checked. */
function principalOf (decoded: unknown): Principal | null {
  const { header, payload } = decoded as { header: Record<string, unknown>, payload: Record<string, unknown> }
  if (header.typ !== 'at+jwt') return null
  for (const claim of REQUIRED_CLAIMS) if (payload[claim] === undefined) return null
  const { sub, sid, jti, roles, preferred_username: username } = payload
  if (typeof sub !== 'string' || typeof sid !== 'string' || typeof jti !== 'string' || typeof username !== 'string' ||
    !Array.isArray(roles) || !roles.every((r) => typeof r === 'string')) return null
  return { userId: sub, username, rolesHeader: roles.join(',') }
}

async function main (): Promise<void> {
  const jwk = JSON.parse(required('PEER_JWK')) as JsonWebKey
  const publicPem = createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
  const algorithm = required('PEER_ALG') as Algorithm
  const audience = required('PEER_AUDIENCE').split(',').map((a) => a.trim()).filter(Boolean)

  passport.use(new JwtStrategy({
    jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
    secretOrKey: publicPem,
    algorithms: [algorithm],
    issuer: required('PEER_ISSUER'),
    audience: audience.length === 1 ? audience[0] : audience,
    jsonWebTokenOptions: { complete: true }
  }, (decoded: unknown, done: (err: Error | null, user?: Principal | false) => void) => {
    const principal = principalOf(decoded)
    done(null, principal ?? false)
  }))

  const app = express()
  app.use(passport.initialize())

  app.get('/health', (req, res) => { res.json({ status: 'ok' }) })
  app.get('/auth/verify', passport.authenticate('jwt', { session: false }), (req, res) => {
    const user = req.user as Principal
    res.set({
      'x-auth-user-id': user.userId,
      'x-auth-username': user.username,
      'x-auth-roles': user.rolesHeader
    }).status(204).end()
  })

  const { host, port } = listenAddress()
  const server = app.listen(port, host)
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve)
    server.once('error', reject)
  })
  bindLifecycle(() => new Promise<void>((resolve) => { server.close(() => { resolve() }); server.closeAllConnections() }))
}

main().catch((err: unknown) => {
  process.stderr.write(`express-peer: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
