/**
 * Real processes for tests that need more than one Warden, a Redis server or nginx: each is started
 * on a free loopback port, awaited until it answers, and stopped by its own pid.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { freePort, startDatabase, type DatabaseHandle } from '../src/lib/embedded-db'
import type { Teardown } from './helper'

export const ROOT = resolve(__dirname, '..')
/** The TypeScript loader this test runs under: servers run from source, no build needed. */
export const LOADER = process.execArgv.filter((arg) => arg.includes('typescript'))

/** Resolves when a line of `child`'s output matches; rejects when it exits first or after `timeoutMs`. */
function waitForLine (child: ChildProcess, stream: 'stdout', pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const lines = createInterface({ input: child[stream]! })
    const done = (err?: Error, line?: string) => {
      clearTimeout(timer)
      child.off('exit', onExit)
      lines.close()
      if (err !== undefined) reject(err)
      else resolvePromise(line ?? '')
    }
    const timer = setTimeout(() => { done(new Error(`no line matching ${pattern} within ${timeoutMs} ms`)) }, timeoutMs)
    const onExit = (code: number | null) => { done(new Error(`process exited (${code}) before printing ${pattern}`)) }
    child.once('exit', onExit)
    lines.on('line', (line) => { if (pattern.test(line)) done(undefined, line) })
  })
}

/** Children still running when the test process exits (a crash, a timeout) are killed with it. */
const running = new Set<ChildProcess>()
process.once('exit', () => { for (const child of running) child.kill('SIGKILL') })

function track (child: ChildProcess): ChildProcess {
  running.add(child)
  child.once('exit', () => { running.delete(child) })
  return child
}

/** Stops a process started here (SIGTERM; SIGKILL after 10 s) and waits for its exit. */
export async function stop (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 10_000)
  await exited
  clearTimeout(timer)
}

export interface RunningServer {
  url: string
  child: ChildProcess
  /** The JSON log lines the process printed so far (its standard output), parsed. */
  logs: Array<Record<string, unknown>>
}

/**
 * A Warden server process (src/server.ts) with `env`, ready (GET /health/ready), stopped (SIGTERM)
 * after the test. On a free port unless `env.PORT` names one (to start it again where it was).
 * Its standard output (pino's JSON lines, at LOG_LEVEL `warn` unless `env` says otherwise) is kept
 * in `logs`.
 */
export async function startWarden (t: Teardown, env: Record<string, string>): Promise<RunningServer> {
  const port = env.PORT ?? String(await freePort())
  const child = track(spawn(process.execPath, [...LOADER, 'src/server.ts'], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', MAX_EVENT_LOOP_DELAY_MS: '0', ...env, PORT: port, HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'inherit']
  }))
  t.teardown(() => stop(child))
  const logs: Array<Record<string, unknown>> = []
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>)
    } catch {
      logs.push({ msg: line })
    }
  })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 90_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`warden exited (${child.exitCode}) before answering`)
    const ready = await fetch(`${url}/health/ready`).then((res) => res.status === 200, () => false)
    if (ready) return { url, child, logs }
    if (Date.now() > deadline) throw new Error('warden did not answer /health/ready within 90 s')
    await new Promise((resolve) => { setTimeout(resolve, 50) })
  }
}

export interface RedisServer {
  url: string
  /** Stops the server (SIGTERM) and waits for its exit; nothing is kept (no persistence). */
  stop(): Promise<void>
  /** Starts it again on the same port, empty, once it was stopped. */
  start(): Promise<void>
}

/** A redis-server on a free loopback port, without persistence, stopped after the test. */
export async function startRedis (t: Teardown): Promise<RedisServer> {
  const port = await freePort()
  let child: ChildProcess | undefined
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    async start () {
      if (child !== undefined && child.exitCode === null && child.signalCode === null) return
      const started = track(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
        stdio: ['ignore', 'pipe', 'inherit']
      }))
      child = started
      const failed = new Promise<never>((_resolve, reject) => {
        started.once('error', (err) => { reject(new Error(`redis-server could not be started: ${err.message}`)) })
      })
      await Promise.race([waitForLine(started, 'stdout', /Ready to accept connections/, 30_000), failed])
      started.stdout?.resume()
    },
    async stop () {
      if (child !== undefined) await stop(child)
    }
  }
  t.teardown(() => server.stop())
  await server.start()
  return server
}

export interface OwnDatabase {
  uri: string
  /** Stops the database server and waits for its exit. */
  stop(): Promise<void>
  /** Starts it again on the same port and data folder (what it held is kept). */
  start(): Promise<void>
}

/**
 * A database server of the test's own (FerretDB or mongod, as src/lib/embedded-db finds one) on a
 * free loopback port, in a temporary folder: stopping it disturbs no other test. Stopped, and its
 * folder removed, after the test.
 */
export async function startOwnDatabase (t: Teardown, dbName: string): Promise<OwnDatabase> {
  const dir = mkdtempSync(join(tmpdir(), `warden-${dbName}-`))
  const port = await freePort()
  const open = () => startDatabase({ dataDir: join(dir, 'db'), dbName, reuse: false, port })
  let handle: DatabaseHandle | undefined = await open()
  const database: OwnDatabase = {
    uri: handle.uri,
    async stop () {
      const running = handle
      handle = undefined
      await running?.stop()
    },
    async start () {
      handle ??= await open()
    }
  }
  t.teardown(async () => {
    await database.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  return database
}

/** Where nginx is looked for besides PATH (Debian installs it in /usr/sbin, often not on a user's PATH). */
const NGINX_PLACES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx']

/** The nginx binary; throws, saying how to install it, when there is none. */
export function nginxBinary (): string {
  const onPath = (process.env.PATH ?? '').split(delimiter).filter((dir) => dir !== '').map((dir) => join(dir, 'nginx'))
  const found = [...onPath, ...NGINX_PLACES].find((file) => {
    try {
      accessSync(file, constants.X_OK)
      return true
    } catch {
      return false
    }
  })
  if (found === undefined) {
    throw new Error(`nginx is not installed (looked on PATH and in ${NGINX_PLACES.join(', ')}): ` +
      'install it with `apt-get install -y --no-install-recommends nginx` (.ci/run does)')
  }
  return found
}

/** The start of an nginx configuration that runs anywhere: every file it writes is under `dir`. */
export function nginxMainConfig (dir: string): string {
  return [
    // Only root can switch users; as root the workers stay root too, to read and write `dir`.
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    'worker_processes 1;',
    `error_log ${join(dir, 'error.log')} warn;`,
    `pid ${join(dir, 'nginx.pid')};`,
    'events { worker_connections 256; }'
  ].join('\n')
}

/** The directives of an `http` block that keep nginx's temporary files and logs under `dir`. */
export function nginxHttpPaths (dir: string): string {
  return ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `${kind}_temp_path ${join(dir, `${kind}_temp`)};`)
    .concat('access_log off;')
    .join('\n')
}

/**
 * `nginx -t` on the configuration `config` (a whole nginx.conf) written in a temporary folder:
 * resolves with its output when nginx accepts it, rejects with that output otherwise.
 */
export async function checkNginxConfig (config: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-nginx-'))
  try {
    writeFileSync(join(dir, 'nginx.conf'), `${nginxMainConfig(dir)}\n${config}\n`)
    const child = spawn(nginxBinary(), ['-t', '-q', '-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk) => { output += chunk })
    child.stderr.on('data', (chunk) => { output += chunk })
    const [code] = await once(child, 'exit') as [number | null]
    if (code !== 0) throw new Error(`nginx -t refused the configuration (${code}): ${output}`)
    return output
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export interface RunningNginx {
  url: string
  port: number
  child: ChildProcess
}

/**
 * nginx as a real process (`daemon off`) on a free loopback port, running as the current user, with
 * `http` (the inside of its `http` block, where `{{PORT}}` stands for that port) and every file it
 * writes in a temporary folder; answering before this resolves, stopped (and the folder removed)
 * after the test.
 */
export async function startNginx (t: Teardown, http: string): Promise<RunningNginx> {
  const binary = nginxBinary()
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'warden-nginx-'))
  const config = join(dir, 'nginx.conf')
  writeFileSync(config, `${nginxMainConfig(dir)}\nhttp {\n${nginxHttpPaths(dir)}\n${http.replaceAll('{{PORT}}', String(port))}\n}\n`)
  const child = track(spawn(binary, ['-p', dir, '-e', join(dir, 'error.log'), '-c', config, '-g', 'daemon off;'], { stdio: ['ignore', 'inherit', 'pipe'] }))
  let stderr = ''
  child.stderr?.on('data', (chunk) => { stderr += chunk })
  t.teardown(async () => {
    await stop(child)
    rmSync(dir, { recursive: true, force: true })
  })
  const url = `http://127.0.0.1:${port}`
  const log = () => {
    let errorLog = ''
    try { errorLog = readFileSync(join(dir, 'error.log'), 'utf8') } catch { /* not written yet */ }
    return `${stderr}${errorLog}`.trim()
  }
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}) before answering: ${log()}`)
    // Any answer means it listens: the test decides what the answers should be.
    const answered = await fetch(`${url}/`, { method: 'HEAD' }).then(() => true, () => false)
    if (answered) return { url, port, child }
    if (Date.now() > deadline) throw new Error(`nginx did not answer on ${url} within 30 s: ${log()}`)
    await new Promise((resolve) => { setTimeout(resolve, 50) })
  }
}
