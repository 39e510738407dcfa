/**
 * A relying service: the reference's hello-world route twice on the same Fastify, once open
 * (`/open`) and once behind `warden/verifier`'s `authenticate` hook (`/protected`), the verifier
 * following the revocation feed of the Warden at WARDEN_URL. Whatever /protected costs beyond
 * /open is the verifier's.
 *
 * Environment: HOST, PORT, WARDEN_URL, JWT_ISSUER, JWT_AUDIENCE, WARDEN_CLIENT_ID, WARDEN_CLIENT_SECRET.
 */
import Fastify from 'fastify'
import { serverOptions } from '../../src/app'
import { loadConfig } from '../../src/config'
import { wardenVerifier } from '../../src/verifier'
import { bindLifecycle, listenAddress } from './lifecycle'

function required (name: string): string {
  const value = process.env[name]
  if (value === undefined || value === '') throw new Error(`${name} is required`)
  return value
}

async function main (): Promise<void> {
  const config = loadConfig(process.env)
  const app = Fastify(serverOptions(config))
  const warden = required('WARDEN_URL')
  await app.register(wardenVerifier, {
    issuer: config.jwt.issuer,
    audience: config.jwt.audience,
    jwksUri: `${warden}/.well-known/jwks.json`,
    feed: { url: `${warden}/oauth/revocations`, clientId: required('WARDEN_CLIENT_ID'), clientSecret: required('WARDEN_CLIENT_SECRET') }
  })
  const schema = { response: { 200: { type: 'object', properties: { hello: { type: 'string' } }, required: ['hello'] } } }
  app.get('/open', { schema }, function (request, reply) { reply.send({ hello: 'world' }) })
  app.get('/protected', { schema, onRequest: app.authenticate }, function (request, reply) { reply.send({ hello: 'world' }) })
  app.get('/health', function (request, reply) { reply.send({ status: 'ok' }) })

  bindLifecycle(() => app.close())
  await app.listen(listenAddress())
}

main().catch((err: unknown) => {
  process.stderr.write(`relying: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
