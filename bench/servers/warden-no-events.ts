/**
 * Warden exactly as src/server.ts runs it, with one bench-only switch: login events are not
 * recorded (the store's record() does nothing). The event-cost scenario puts logins/s of the
 * real server over this one's. The runner always gives MONGODB_URI, so no embedded database.
 */
import { availableParallelism } from 'node:os'
import pino from 'pino'
import { buildApp, loggerOptions } from '../../src/app'
import { loadConfig } from '../../src/config'
import { bindLifecycle, listenAddress } from './lifecycle'

async function main (): Promise<void> {
  process.env.UV_THREADPOOL_SIZE ??= String(availableParallelism())
  const config = loadConfig(process.env)
  if (config.mongodbUri === undefined) throw new Error('MONGODB_URI is required')
  const app = await buildApp({ config, mongodbUri: config.mongodbUri }, { logger: undefined, loggerInstance: pino(loggerOptions(config)) })
  app.loginEvents.record = async () => {}
  bindLifecycle(() => app.close())
  await app.listen(listenAddress())
}

main().catch((err: unknown) => {
  process.stderr.write(`warden-no-events: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
