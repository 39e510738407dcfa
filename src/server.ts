import closeWithGrace from 'close-with-grace'
import pino from 'pino'
import { availableParallelism } from 'node:os'
import { loadConfig, ConfigError, type Config } from './config'
import { buildApp, loggerOptions } from './app'
import { startDatabase, redactUri, DatabaseUnavailableError, type DatabaseHandle } from './lib/embedded-db'

/** Prints one line and exits non-zero: for problems a user fixes before trying again. */
function fail (message: string): never {
  process.stderr.write(`warden: ${message}\n`)
  process.exit(1)
}

async function main (): Promise<void> {
  // libuv's pool runs the argon2 computations; one thread per core is all they can use, and
  // every extra thread would keep its own 19 MiB allocator arena after a login. Must be set
  // before the pool's first use (an explicit value in the environment wins).
  process.env.UV_THREADPOOL_SIZE ??= String(availableParallelism())
  let config: Config
  try {
    config = loadConfig(process.env)
  } catch (err) {
    if (err instanceof ConfigError) fail(`invalid configuration: ${err.message}`)
    throw err
  }
  const log = pino(loggerOptions(config))

  let database: DatabaseHandle
  try {
    database = await startDatabase({
      uri: config.mongodbUri,
      dataDir: config.dataDir,
      reuse: false,
      log: (msg) => log.info(msg)
    })
  } catch (err) {
    if (err instanceof DatabaseUnavailableError) fail(err.message)
    throw err
  }
  log.info({ database: redactUri(database.uri), kind: database.kind }, 'using database')

  let app
  try {
    app = await buildApp({ config, mongodbUri: database.uri }, { logger: undefined, loggerInstance: log })
  } catch (err) {
    await database.stop()
    fail(`cannot start: ${(err as Error).message.split('\n')[0]}`)
  }

  closeWithGrace({ delay: 10_000, logger: log }, async ({ signal, err }) => {
    if (err !== undefined) log.error({ err }, 'shutting down after an error')
    else log.info({ signal }, 'shutting down: finishing in-flight requests')
    await app.close()
    await database.stop()
  })

  await app.listen({ host: config.host, port: config.port })
}

main().catch((err: unknown) => {
  process.stderr.write(`warden: ${(err as Error).message ?? String(err)}\n`)
  process.exit(1)
})
