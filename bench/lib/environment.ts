/**
 * What a benchmark or soak run stands on: one database for the whole run, in a temporary
 * folder, and Warden children (or the bench's own servers) started against it on free
 * loopback ports with a fixed configuration. Everything started here is stopped by `close`,
 * on SIGINT and SIGTERM, when the process exits, and after the run's time limit.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ENV_VARIABLES } from '../../src/config'
import { startDatabase, type DatabaseHandle, type DatabaseKind } from '../../src/lib/embedded-db'
import { stopLoad } from './load'
import { freePort, HOST, killAllSync, spawnNode, stopAll, waitForOk, type NodeChild } from './processes'

/**
 * The children get the run's values of Warden's variables (ENV_VARIABLES), not the caller's,
 * except for these, which a caller may set to measure another configuration.
 */
export const PASS_THROUGH: ReadonlyArray<typeof ENV_VARIABLES[number]> = ['JWT_ALG', 'ARGON2_MEMORY_KIB', 'ARGON2_TIME_COST', 'ARGON2_PARALLELISM', 'TOKEN_CACHE_SIZE', 'LOGIN_EVENT_DURABILITY', 'LOGIN_EVENT_BATCH_MS']

/** A server child that answered its readiness URL. */
export interface Server {
  name: string
  /** http://127.0.0.1:<port> */
  url: string
  child: NodeChild
  /** milliseconds from spawn to the first 200 of its readiness URL */
  startMs: number
}

export interface Environment {
  /** os.availableParallelism() */
  readonly cores: number
  /** project root (where package.json is) */
  readonly root: string
  /** compiled bench folder (dist/bench) */
  readonly distBench: string
  /** temporary folder of this run: logs, database files */
  readonly runDir: string
  /** what the run's database is (mongod, ferretdb, ...) */
  readonly databaseKind: DatabaseKind
  /** the database every Warden child of the run uses */
  readonly dbUri: string
  /** its server process, when the run started it */
  readonly dbPid: number | undefined
  /** the environment Warden children get (also what loadConfig sees for the helpers) */
  readonly wardenBaseEnv: Readonly<Record<string, string>>
  log(message: string): void
  /** Starts `node dist/src/server.js` on a free port and waits for /health/ready. */
  startWarden(name: string, extraEnv?: Record<string, string>): Promise<Server>
  /** Starts a compiled bench server script on a free port and waits for `readyPath`. */
  startScript(name: string, script: string, readyPath: string, env?: Record<string, string>): Promise<Server>
  /**
   * Stops every child and the database. The run's folder is removed, or kept (with the
   * children's logs) when `keepLogs` is set, e.g. after a failure. Safe to call more than once.
   */
  close(keepLogs: boolean): Promise<void>
}

export interface EnvironmentOptions {
  /** `bench` or `soak`: names the temporary folder and the database */
  label: string
  /** the compiled bench folder (dist/bench), from which the project root is found */
  distBench: string
  /** the run is stopped, and its children with it, after this long */
  limitMs: number
  log(message: string): void
  /** node flags and variables every server child gets (e.g. the CPU-profile hook) */
  childNodeArgs?: string[]
  childEnv?: Record<string, string>
}

/** Starts the run's database and returns the environment; throws (having cleaned up) when it cannot. */
export async function openEnvironment (opts: EnvironmentOptions): Promise<Environment> {
  const { log } = opts
  const root = path.resolve(opts.distBench, '..', '..')
  const serverScript = path.join(root, 'dist', 'src', 'server.js')
  if (!fs.existsSync(serverScript)) throw new Error(`${serverScript} is missing: run npm run build first (npm run ${opts.label} does)`)
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), `warden-${opts.label}-`))

  let database: DatabaseHandle | undefined
  let closing: Promise<void> | undefined
  function close (keepLogs: boolean): Promise<void> {
    closing ??= (async () => {
      clearTimeout(watchdog)
      stopLoad()
      await stopAll(3000)
      await database?.stop().catch(() => {})
      if (keepLogs) log(`logs kept in ${path.join(runDir, 'logs')}`)
      else fs.rmSync(runDir, { recursive: true, force: true })
    })()
    return closing
  }

  // Bounded: a run that hangs is stopped and cleaned up.
  const watchdog = setTimeout(() => {
    log(`the run exceeded its ${Math.round(opts.limitMs / 1000)} s limit: stopping`)
    void close(true).finally(() => process.exit(1))
  }, opts.limitMs)
  watchdog.unref()
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping every child process`)
    void close(true).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  process.on('exit', killAllSync)

  try {
    database = await startDatabase({ dataDir: path.join(runDir, 'db'), dbName: `warden-${opts.label}`, reuse: false, log })
  } catch (err) {
    await close(true)
    throw err
  }
  log(`database: ${database.kind} at ${database.uri}`)

  const wardenBaseEnv: Record<string, string> = {
    HOST,
    MONGODB_URI: database.uri,
    DATA_DIR: path.join(runDir, 'data'),
    LOG_LEVEL: 'info',
    JWT_ISSUER: `http://127.0.0.1/warden-${opts.label}`,
    JWT_AUDIENCE: 'warden',
    JWT_ALG: 'RS256',
    // Long enough for the tokens made at set-up to outlive the run.
    ACCESS_TOKEN_TTL: '12h',
    REGISTRATION: 'open',
    // The load comes from one client address, far beyond any per-address limit: the rate
    // limiters still run (and cost what they cost) but never refuse.
    RATE_LIMIT_MAX: '1000000000',
    RATE_LIMIT_AUTH_MAX: '1000000000'
  }
  for (const name of PASS_THROUGH) {
    const value = process.env[name]
    if (value !== undefined && value !== '') wardenBaseEnv[name] = value
  }
  const childEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = { ...process.env }
    for (const name of ENV_VARIABLES) delete env[name]
    return { ...env, ...wardenBaseEnv, ...extra }
  }

  async function startServer (name: string, script: string, readyPath: string, extraEnv: Record<string, string>): Promise<Server> {
    const port = await freePort()
    const child = spawnNode({
      name,
      script,
      nodeArgs: opts.childNodeArgs ?? [],
      env: childEnv({ ...extraEnv, ...opts.childEnv, PORT: String(port) }),
      logFile: path.join(runDir, 'logs', `${name}.log`),
      cwd: root
    })
    const url = `http://${HOST}:${port}`
    try {
      // 120 s: a Warden loading a large journal from FerretDB takes 30 to 50 s on this machine.
      const startMs = await waitForOk(child, url + readyPath, { intervalMs: 10, timeoutMs: 120_000 })
      return { name, url, child, startMs }
    } catch (err) {
      await child.stop(1000)
      throw err
    }
  }

  return {
    cores: os.availableParallelism(),
    root,
    distBench: opts.distBench,
    runDir,
    databaseKind: database.kind,
    dbUri: database.uri,
    dbPid: database.pid,
    wardenBaseEnv,
    log,
    startWarden (name, extraEnv = {}) {
      return startServer(name, serverScript, '/health/ready', extraEnv)
    },
    startScript (name, script, readyPath, env = {}) {
      return startServer(name, script, readyPath, env)
    },
    close
  }
}
