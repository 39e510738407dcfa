/**
 * Warden benchmark runner: `npm run bench [-- --quick] [-- --only verify,login] [-- --json FILE]`.
 *
 * Starts one database for the whole run, every server under test in a child process of its
 * own, drives the load with autocannon from this process, measures the scenarios round
 * after round (A B A B ...), prints a table of medians and ratios, and writes the figures
 * to bench/results/ (JSON, plus an SVG chart of the figures against their targets).
 */
import path from 'node:path'
import { optionValue, progressLog, runCommand, UsageError } from './lib/command'
import { openEnvironment, type Environment } from './lib/environment'
import { setRemeasure } from './lib/load'
import { formatCpu, formatMs, formatNumber, renderMarkdown, renderSvg, renderTable } from './lib/report'
import { fileStamp, packageVersion, runInfo, toJson, writeAtomic, writeResults } from './lib/results'
import type { BenchContext, BenchOptions, RoundResult, Row, Scenario } from './lib/scenario'
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
      case '--json': options.json = optionValue(arg, argv[++i], 'a file name'); break
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

function roundSummary (name: string, result: RoundResult): string {
  const loads = Object.entries(result.loads).map(([key, l]) =>
    `${key} ${formatNumber(l.rps, l.rps < 100 ? 1 : 0)} req/s p50 ${formatMs(l.p50)}, ${formatCpu(l.cpuPerRequestUs)} CPU/req` +
    ` (server ${l.serverCores?.toFixed(2) ?? '?'} cores, generator ${l.generatorCores.toFixed(2)}${l.databaseCores !== null ? `, database ${l.databaseCores.toFixed(2)}` : ''}${l.otherCores !== null ? `, others ${l.otherCores.toFixed(2)}` : ''}${l.stealCores !== null && l.stealCores >= 0.01 ? `, steal ${l.stealCores.toFixed(2)}` : ''})${l.remeasured === true ? ' [measured again: disturbed]' : ''}${l.unexpected > 0 ? ` ${l.unexpected} unexpected` : ''}`)
  return `${name}: ${loads.join(', ')}`
}

async function main (argv: string[]): Promise<number> {
  const options = parseArgs(argv)

  const distBench = __dirname
  const started = Date.now()
  const log = progressLog(started)
  const scenarios = selectScenarios(options.only)
  setRemeasure(!options.quick)
  const profileDir = path.join(distBench, '..', '..', 'bench', 'results', 'profiles', fileStamp(new Date(started)))
  const perRound = scenarios.length * (options.warmup + options.duration + 2 * (options.loginDuration + 3) + 40)

  let env: Environment | undefined
  try {
    log(`${scenarios.map((s) => s.name).join(', ')}: ${options.rounds} round(s), ${options.connections} connections, ${options.warmup} s warm-up + ${options.duration} s${options.quick ? ' (quick)' : ''}`)
    env = await openEnvironment({
      label: 'bench',
      distBench,
      limitMs: (180 + options.rounds * perRound * 2) * 1000,
      log,
      // --cpu-prof: the children preload a hook that profiles only the measured load periods.
      childNodeArgs: options.cpuProf ? ['-r', path.join(distBench, 'tools', 'profile-hook.js')] : [],
      childEnv: options.cpuProf ? { BENCH_PROFILE_DIR: profileDir } : {}
    })
    const { root, cores } = env
    const ctx: BenchContext = {
      ...env,
      options,
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

    const info = runInfo(env, new Date())
    const { commit, dirty } = info
    const targeted = rows.filter((r) => r.pass !== undefined)
    const document = {
      schema: 1,
      ...info,
      versions: {
        fastify: packageVersion(root, 'fastify'),
        autocannon: packageVersion(root, 'autocannon'),
        express: packageVersion(root, 'express'),
        'passport-jwt': packageVersion(root, 'passport-jwt'),
        jsonwebtoken: packageVersion(root, 'jsonwebtoken'),
        argon2: packageVersion(root, 'argon2')
      },
      options,
      scenarios: scenarios.map((s) => ({ name: s.name, title: s.title, description: s.description })),
      summary: { targets: targeted.length, met: targeted.filter((r) => r.pass === true).length, missed: targeted.filter((r) => r.pass === false).map((r) => `${r.scenario}: ${r.label}`) },
      rows,
      rounds: Object.fromEntries(results),
      duration_s: Math.round((Date.now() - started) / 1000)
    }

    const table = renderTable(rows)
    process.stdout.write(`\n${table}\n\n`)
    process.stdout.write(`${document.summary.met}/${document.summary.targets} targets met. Node ${process.version}, ${info.cpu_model}, ${cores} cores, commit ${commit}${dirty === true ? ' (dirty tree)' : ''}.\n`)
    process.stdout.write('Ratios are medians of per-round ratios; req/s, p50 and p99 are medians over rounds; non-2xx is the total; RSS the largest sample.\n')

    const resultsDir = path.join(root, 'bench', 'results')
    const json = toJson(document)
    const named = writeResults(resultsDir, info, json)
    writeAtomic(path.join(resultsDir, 'latest.md'), `${renderMarkdown(rows)}\n\n${info.date}, commit ${commit}${dirty === true ? ' (dirty tree)' : ''}, Node ${process.version}, ${info.cpu_model}, ${cores} cores${options.quick ? ', --quick' : ''}.\n`)
    const subtitle = `${info.date.slice(0, 16).replace('T', ' ')} UTC, commit ${commit}${dirty === true ? ' (dirty)' : ''}, Node ${process.version}, ${cores} cores, ${options.rounds} round(s)${options.quick ? ', --quick' : ''}`
    writeAtomic(path.join(resultsDir, 'latest.svg'), renderSvg(rows, subtitle))
    if (options.json !== null) writeAtomic(path.resolve(options.json), json)
    log(`wrote ${path.relative(process.cwd(), named)}, bench/results/latest.{json,md,svg}${options.json !== null ? ` and ${options.json}` : ''}`)
    if (options.cpuProf) log(`CPU profiles of the measured periods are in ${path.relative(process.cwd(), profileDir)} (summarise with node dist/bench/tools/cpuprofile-summary.js FILE...)`)

    await env.close(false)
    return 0
  } catch (err) {
    log(`failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
    await env?.close(true)
    return 1
  }
}

runCommand('bench', USAGE, main)
