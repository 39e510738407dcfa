/**
 * Warden benchmark runner: `npm run bench [-- --quick] [-- --only verify,login] [-- --json FILE]`.
 *
 * Starts one database for the whole run, every server under test in a child process of its
 * own, drives the load with autocannon from this process, measures the scenarios round
 * after round (A B A B ...), prints a table of medians and ratios, and writes the figures
 * to bench/results/ (JSON, plus an SVG chart of the figures against their targets).
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ENV_VARIABLES } from '../src/config'
import { startDatabase, type DatabaseHandle } from '../src/lib/embedded-db'
import { setRemeasure, stopLoad } from './lib/load'
import { freePort, HOST, killAllSync, spawnNode, stopAll, waitForOk } from './lib/processes'
import { formatCpu, formatMs, formatNumber, renderMarkdown, renderSvg, renderTable } from './lib/report'
import type { BenchContext, BenchOptions, RoundResult, Row, Scenario, Server } from './lib/scenario'
import { SCENARIOS } from './scenarios'

const USAGE = `Usage: npm run bench -- [options]

  --quick            CI-sized run: fewer rounds, short warm-up and durations (well under 2 minutes)
  --only a,b         run only these scenarios (and the ones they need): ${SCENARIOS.map((s) => s.name).join(', ')}
  --json FILE        also write the JSON results to FILE
  --rounds N         measurement rounds (default 3, --quick 2)
  --duration S       seconds of each measured throughput period (default 10, --quick 3)
  --warmup S         seconds of warm-up before each throughput period (default 3, --quick 1)
  --connections N    connections of the throughput scenarios (default 50)
  --cpu-prof         CPU-profile every server during its measured periods (bench/results/profiles/<date>/)
  --help             this text
`

/**
 * The children get the bench's values of Warden's variables (ENV_VARIABLES), not the caller's,
 * except for these, which a caller may set to benchmark another configuration.
 */
const PASS_THROUGH: ReadonlyArray<typeof ENV_VARIABLES[number]> = ['JWT_ALG', 'ARGON2_MEMORY_KIB', 'ARGON2_TIME_COST', 'ARGON2_PARALLELISM', 'TOKEN_CACHE_SIZE', 'LOGIN_EVENT_DURABILITY', 'LOGIN_EVENT_BATCH_MS']

class UsageError extends Error {}

function parseArgs (argv: string[]): BenchOptions {
  const quick = argv.includes('--quick')
  const options: BenchOptions = {
    quick,
    rounds: quick ? 2 : 3,
    warmup: quick ? 1 : 3,
    duration: quick ? 3 : 10,
    connections: 50,
    loginDuration: quick ? 3 : 8,
    argon2Iterations: quick ? 20 : 100,
    starts: quick ? 2 : 3,
    only: null,
    json: null,
    cpuProf: false
  }
  const number = (flag: string, value: string | undefined, min: number, maxValue: number): number => {
    const n = Number(value)
    if (value === undefined || !Number.isFinite(n) || n < min || n > maxValue) throw new UsageError(`${flag} needs a number from ${min} to ${maxValue}`)
    return n
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    switch (arg) {
      case '--quick': break
      case '--cpu-prof': options.cpuProf = true; break
      case '--only': {
        const names = (argv[++i] ?? '').split(',').map((s) => s.trim()).filter(Boolean)
        const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n))
        if (names.length === 0 || unknown.length > 0) throw new UsageError(`--only takes scenario names from: ${SCENARIOS.map((s) => s.name).join(', ')}${unknown.length > 0 ? ` (unknown: ${unknown.join(', ')})` : ''}`)
        options.only = names
        break
      }
      case '--json': {
        const file = argv[++i]
        if (file === undefined || file.startsWith('--')) throw new UsageError('--json needs a file name')
        options.json = file
        break
      }
      case '--rounds': options.rounds = Math.round(number(arg, argv[++i], 1, 15)); break
      case '--duration': options.duration = number(arg, argv[++i], 1, 120); break
      case '--warmup': options.warmup = number(arg, argv[++i], 0, 60); break
      case '--connections': options.connections = Math.round(number(arg, argv[++i], 1, 1000)); break
      case '--help': case '-h': process.stdout.write(USAGE); process.exit(0); break
      default: throw new UsageError(`unknown option ${arg}`)
    }
  }
  return options
}

/** The selected scenarios plus everything they need, in registry order. */
function selectScenarios (only: string[] | null): Scenario[] {
  const all = SCENARIOS.map((s) => ({ name: s.name, scenario: s.create() }))
  if (only === null) return all.map((s) => s.scenario)
  const wanted = new Set<string>()
  const add = (name: string): void => {
    if (wanted.has(name)) return
    wanted.add(name)
    for (const dep of all.find((s) => s.name === name)?.scenario.needs ?? []) add(dep)
  }
  only.forEach(add)
  return all.filter((s) => wanted.has(s.name)).map((s) => s.scenario)
}

function git (root: string, args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim()
  } catch {
    return undefined
  }
}

function packageVersion (root: string, name: string): string | null {
  try {
    return (JSON.parse(fs.readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return null
  }
}

function fileStamp (date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')
}

function roundSummary (name: string, result: RoundResult): string {
  const loads = Object.entries(result.loads).map(([key, l]) =>
    `${key} ${formatNumber(l.rps, l.rps < 100 ? 1 : 0)} req/s p50 ${formatMs(l.p50)}, ${formatCpu(l.cpuPerRequestUs)} CPU/req` +
    ` (server ${l.serverCores?.toFixed(2) ?? '?'} cores, generator ${l.generatorCores.toFixed(2)}${l.databaseCores !== null ? `, database ${l.databaseCores.toFixed(2)}` : ''}${l.otherCores !== null ? `, others ${l.otherCores.toFixed(2)}` : ''}${l.stealCores !== null && l.stealCores >= 0.01 ? `, steal ${l.stealCores.toFixed(2)}` : ''})${l.remeasured === true ? ' [measured again: disturbed]' : ''}${l.unexpected > 0 ? ` ${l.unexpected} unexpected` : ''}`)
  return `${name}: ${loads.join(', ')}`
}

async function main (): Promise<number> {
  let options: BenchOptions
  try {
    options = parseArgs(process.argv.slice(2))
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`bench: ${err.message}\n\n${USAGE}`)
      return 2
    }
    throw err
  }

  const distBench = __dirname
  const root = path.resolve(distBench, '..', '..')
  const serverScript = path.join(root, 'dist', 'src', 'server.js')
  if (!fs.existsSync(serverScript)) throw new Error(`${serverScript} is missing: run npm run build first (npm run bench does)`)

  const started = Date.now()
  const log = (message: string): void => {
    process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${message}\n`)
  }
  const scenarios = selectScenarios(options.only)
  setRemeasure(!options.quick)
  const cores = os.availableParallelism()
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-'))
  const profileDir = path.join(root, 'bench', 'results', 'profiles', fileStamp(new Date(started)))

  // Bounded: a run that hangs is stopped and cleaned up.
  const perRound = scenarios.length * (options.warmup + options.duration + 2 * (options.loginDuration + 3) + 40)
  const limitMs = (180 + options.rounds * perRound * 2) * 1000
  const watchdog = setTimeout(() => {
    log(`the run exceeded its ${Math.round(limitMs / 1000)} s limit: stopping`)
    void cleanup(false).finally(() => process.exit(1))
  }, limitMs)
  watchdog.unref()

  let database: DatabaseHandle | undefined
  let cleaning: Promise<void> | undefined
  function cleanup (removeRunDir: boolean): Promise<void> {
    cleaning ??= (async () => {
      stopLoad()
      await stopAll(3000)
      await database?.stop().catch(() => {})
      if (removeRunDir) fs.rmSync(runDir, { recursive: true, force: true })
      else log(`logs kept in ${path.join(runDir, 'logs')}`)
    })()
    return cleaning
  }
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping every child process`)
    void cleanup(false).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  process.on('exit', killAllSync)

  try {
    log(`${scenarios.map((s) => s.name).join(', ')}: ${options.rounds} round(s), ${options.connections} connections, ${options.warmup} s warm-up + ${options.duration} s${options.quick ? ' (quick)' : ''}`)
    database = await startDatabase({ dataDir: path.join(runDir, 'db'), dbName: 'warden-bench', reuse: false, log })
    log(`database: ${database.kind} at ${database.uri}`)

    const wardenBaseEnv: Record<string, string> = {
      HOST,
      MONGODB_URI: database.uri,
      DATA_DIR: path.join(runDir, 'data'),
      LOG_LEVEL: 'info',
      JWT_ISSUER: 'http://127.0.0.1/warden-bench',
      JWT_AUDIENCE: 'warden',
      JWT_ALG: 'RS256',
      // Long enough for the tokens made at set-up to outlive every round.
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

    // --cpu-prof: the children preload a hook that profiles only the measured load periods.
    const profileArgs = (): string[] => options.cpuProf ? ['-r', path.join(distBench, 'tools', 'profile-hook.js')] : []
    const profileEnv = (): Record<string, string> => options.cpuProf ? { BENCH_PROFILE_DIR: profileDir } : {}

    async function startServer (name: string, script: string, readyPath: string, extraEnv: Record<string, string>, nodeArgs: string[]): Promise<Server> {
      const port = await freePort()
      const child = spawnNode({
        name,
        script,
        nodeArgs,
        env: childEnv({ ...extraEnv, ...profileEnv(), PORT: String(port) }),
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

    const ctx: BenchContext = {
      options,
      cores,
      root,
      distBench,
      runDir,
      dbUri: database.uri,
      dbPid: database.pid,
      wardenBaseEnv,
      log,
      startWarden (name, extraEnv = {}) {
        return startServer(name, serverScript, '/health/ready', extraEnv, profileArgs())
      },
      startScript (name, script, readyPath, env = {}) {
        return startServer(name, script, readyPath, env, profileArgs())
      },
      profile (server, label, round) {
        return options.cpuProf ? { dir: profileDir, name: `${label}-round${round}` } : undefined
      }
    }

    for (const s of scenarios) {
      log(`set-up: ${s.title}`)
      await s.setup(ctx)
    }

    const results = new Map<string, RoundResult[]>(scenarios.map((s) => [s.name, []]))
    for (let round = 1; round <= options.rounds; round++) {
      // Odd rounds run the scenarios in order, even rounds in reverse (A B, B A, A B ...): a
      // machine that speeds up or slows down during the run then favours neither side of a ratio.
      const order = round % 2 === 1 ? scenarios : [...scenarios].reverse()
      for (const s of order) {
        const result = await s.runRound(ctx, round)
        results.get(s.name)?.push(result)
        log(`round ${round}/${options.rounds} ${roundSummary(s.name, result)}`)
      }
    }

    const rows: Row[] = scenarios.flatMap((s) => s.summarise(ctx, results.get(s.name) ?? [], results))
    for (const s of scenarios) await s.teardown(ctx)

    const date = new Date()
    const commit = git(root, ['rev-parse', '--short', 'HEAD']) ?? 'unknown'
    const dirtyFiles = git(root, ['status', '--porcelain', '--', '.', ':(exclude)bench/results'])
    const dirty = dirtyFiles === undefined ? null : dirtyFiles !== ''
    const cpu = os.cpus()[0]?.model ?? 'unknown'
    const targeted = rows.filter((r) => r.pass !== undefined)
    const document = {
      schema: 1,
      date: date.toISOString(),
      commit,
      dirty,
      dirty_note: dirty === true ? 'the working tree had uncommitted changes: figures describe the tree, not the commit alone' : undefined,
      node: process.version,
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      cpu_model: cpu,
      cores,
      memory_gb: Math.round(os.totalmem() / 1e9),
      versions: {
        fastify: packageVersion(root, 'fastify'),
        autocannon: packageVersion(root, 'autocannon'),
        express: packageVersion(root, 'express'),
        'passport-jwt': packageVersion(root, 'passport-jwt'),
        jsonwebtoken: packageVersion(root, 'jsonwebtoken'),
        argon2: packageVersion(root, 'argon2')
      },
      database: database.kind,
      options,
      warden_env: Object.fromEntries(Object.entries(wardenBaseEnv).filter(([k]) => k !== 'MONGODB_URI' && k !== 'DATA_DIR')),
      scenarios: scenarios.map((s) => ({ name: s.name, title: s.title, description: s.description })),
      summary: { targets: targeted.length, met: targeted.filter((r) => r.pass === true).length, missed: targeted.filter((r) => r.pass === false).map((r) => `${r.scenario}: ${r.label}`) },
      rows,
      rounds: Object.fromEntries(results),
      duration_s: Math.round((Date.now() - started) / 1000)
    }

    const table = renderTable(rows)
    process.stdout.write(`\n${table}\n\n`)
    process.stdout.write(`${document.summary.met}/${document.summary.targets} targets met. Node ${process.version}, ${cpu}, ${cores} cores, commit ${commit}${dirty === true ? ' (dirty tree)' : ''}.\n`)
    process.stdout.write('Ratios are medians of per-round ratios; req/s, p50 and p99 are medians over rounds; non-2xx is the total; RSS the largest sample.\n')

    const resultsDir = path.join(root, 'bench', 'results')
    fs.mkdirSync(resultsDir, { recursive: true })
    const json = JSON.stringify(document, (_key, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? null : value), 2) + '\n'
    const named = path.join(resultsDir, `${fileStamp(date)}-${commit}.json`)
    writeAtomic(named, json)
    writeAtomic(path.join(resultsDir, 'latest.json'), json)
    writeAtomic(path.join(resultsDir, 'latest.md'), `${renderMarkdown(rows)}\n\n${date.toISOString()}, commit ${commit}${dirty === true ? ' (dirty tree)' : ''}, Node ${process.version}, ${cpu}, ${cores} cores${options.quick ? ', --quick' : ''}.\n`)
    const subtitle = `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC, commit ${commit}${dirty === true ? ' (dirty)' : ''}, Node ${process.version}, ${cores} cores, ${options.rounds} round(s)${options.quick ? ', --quick' : ''}`
    writeAtomic(path.join(resultsDir, 'latest.svg'), renderSvg(rows, subtitle))
    if (options.json !== null) writeAtomic(path.resolve(options.json), json)
    log(`wrote ${path.relative(process.cwd(), named)}, bench/results/latest.{json,md,svg}${options.json !== null ? ` and ${options.json}` : ''}`)
    if (options.cpuProf) log(`CPU profiles of the measured periods are in ${path.relative(process.cwd(), profileDir)} (summarise with node dist/bench/tools/cpuprofile-summary.js FILE...)`)

    await cleanup(true)
    return 0
  } catch (err) {
    log(`failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
    await cleanup(false)
    return 1
  } finally {
    clearTimeout(watchdog)
  }
}

function writeAtomic (file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, text)
  fs.renameSync(tmp, file)
}

main().then((code) => { process.exit(code) }, (err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  killAllSync()
  process.exit(1)
})
