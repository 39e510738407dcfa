/**
 * The reference server: a hello-world route with a response schema on the same Fastify,
 * with the same server options as Warden (logger and redaction, log controller, proxy
 * trust, request ids, body limit, Ajv options). Whatever Warden costs beyond this is
 * Warden's own work.
 */
import Fastify from 'fastify'
import { serverOptions } from '../../src/app'
import { loadConfig } from '../../src/config'
import { bindLifecycle, listenAddress } from './lifecycle'

async function main (): Promise<void> {
  const config = loadConfig(process.env)
  const app = Fastify(serverOptions(config))

  app.get('/', {
    schema: {
      response: {
        200: { type: 'object', properties: { hello: { type: 'string' } }, required: ['hello'] }
      }
    }
  }, function (request, reply) {
    reply.send({ hello: 'world' })
  })

  bindLifecycle(() => app.close())
  await app.listen(listenAddress())
}

main().catch((err: unknown) => {
  process.stderr.write(`reference: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
