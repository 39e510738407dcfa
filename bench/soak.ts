/**
 * Warden soak run: `npm run soak [-- --quick] [-- --duration S] [-- --json FILE]`.
 *
 * One Warden child on the bench's database, under a bounded mixed load for 10 minutes (60 s
 * with --quick): verify, users/me, login history, refresh (each session rotating its own
 * refresh token) and a small share of logins, each route at a fixed rate from an autocannon
 * instance of its own (bench/soak/mix.ts). Prints a table and writes bench/results/soak/; the
 * exit status is non-zero when a check fails (bench/soak/checks.ts).
 */
import path from 'node:path'
import { optionValue, progressLog, runCommand, UsageError } from './lib/command'
import { openEnvironment, type Environment, type Server } from './lib/environment'
import { drive } from './lib/load'
import { delay, request } from './lib/processes'
import { formatMs, formatNumber } from './lib/report'
import { packageVersion, runInfo, toJson, writeAtomic, writeResults } from './lib/results'
import { login, newAccount, register, type Account } from './lib/warden'
import { machineWindows, memoryFigures, P99_FACTOR, P99_FLOOR_MS, perWindow, planOf, RouteRecord, routeFigures, RSS_GROWTH, windowsOf, type MemoryFigures, type RouteFigures, type Scan, type Windows } from './soak/checks'
import { SessionPool, soakRoutes } from './soak/mix'
import { Sampler, type MetricsSample } from './soak/sampler'

const USAGE = `Usage: npm run soak -- [options]

  --quick            CI-sized run: 60 s instead of 600 s
  --duration S       seconds of load (30 to 7200; default 600, --quick 60)
  --json FILE        also write the JSON results to FILE
  --node-flag FLAG   a node flag for the Warden child (repeatable), e.g. --trace-gc or
                     --heapsnapshot-signal=SIGUSR2 to look into its memory
  --help             this text
`

/** Accounts whose logins make the login share of the load (each logs in every few seconds). */
const LOGIN_ACCOUNTS = 8
/** Sessions opened at set-up, per account, before the load starts. */
const SESSIONS_PER_ACCOUNT = 2

interface SoakOptions {
  quick: boolean
  durationS: number
  json: string | null
  nodeFlags: string[]
}

function parseArgs (argv: string[]): SoakOptions {
  const options: SoakOptions = { quick: argv.includes('--quick'), durationS: argv.includes('--quick') ? 60 : 600, json: null, nodeFlags: [] }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    switch (arg) {
      case '--quick': break
      case '--duration': {
        const n = Number(argv[++i])
        if (!Number.isFinite(n) || n < 30 || n > 7200) throw new UsageError('--duration needs a number of seconds from 30 to 7200')
        options.durationS = Math.round(n)
        break
      }
      case '--json': options.json = optionValue(arg, argv[++i], 'a file name'); break
      case '--node-flag': {
        const flag = argv[++i]
        if (flag === undefined || !flag.startsWith('--')) throw new UsageError('--node-flag needs a node flag, e.g. --node-flag --trace-gc')
        options.nodeFlags.push(flag)
        break
      }
      case '--help': case '-h': process.stdout.write(USAGE); process.exit(0); break
      default: throw new UsageError(`unknown option ${arg}`)
    }
  }
  return options
}

function pad (cells: string[][], left: Set<number>): string {
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => [...r[i]].length)))
  const line = (r: string[]): string => r.map((c, i) => {
    const fill = ' '.repeat(widths[i] - [...c].length)
    return left.has(i) ? c + fill : fill + c
  }).join('  ').trimEnd()
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n')
}

function verdictText (pass: boolean): string {
  return pass ? 'pass' : 'FAIL'
}

function renderTable (plan: Windows, routes: RouteFigures[], memory: MemoryFigures): string {
  const checks = [
    ['route', 'rate', 'req/s', 'answers', 'unexpected', 'p50', 'p99', 'p99 first', 'p99 last', 'limit', 'errors', 'p99'],
    ...routes.map((r) => [
      r.title,
      `${formatNumber(r.rate)}/s`,
      formatNumber(r.rps, r.rps < 100 ? 1 : 0),
      formatNumber(r.responses),
      String(r.unexpected),
      formatMs(r.p50),
      formatMs(r.p99),
      formatMs(r.p99First),
      formatMs(r.p99Last),
      `≤ ${formatMs(r.p99Limit)}`,
      verdictText(r.errorsPass),
      verdictText(r.p99Pass)
    ])
  ]
  const windowHead = ['p99 per window (to)', ...Array.from({ length: plan.windows }, (_, w) => `${Math.round(plan.warmupS + (w + 1) * plan.windowS)} s`)]
  const windows = [
    windowHead,
    ...routes.map((r) => [r.title, ...r.windows.map((w) => formatMs(w.p99))]),
    ['server RSS (median)', ...memory.rssWindowsMB.map((v) => `${v.toFixed(1)} MB`)],
    ['V8 heap used (median)', ...memory.heapWindowsMB.map((v) => (Number.isFinite(v) ? `${v.toFixed(1)} MB` : ''))]
  ]
  const rss = `server RSS: ${memory.rssFirstMB.toFixed(1)} MB in the first window after the warm-up, ${memory.rssLastMB.toFixed(1)} MB in the last: ` +
    `${memory.rssGrowth >= 0 ? '+' : ''}${(memory.rssGrowth * 100).toFixed(1)} % (limit < ${RSS_GROWTH * 100} %) ${verdictText(memory.rssPass)}`
  const notes = routes.filter((r) => r.scaleNote !== null).map((r) => `${r.title}: ${r.scaleNote}`)
  return [pad(checks, new Set([0])), pad(windows, new Set([0])), [rss, ...notes].join('\n')].join('\n\n')
}

/** The server's full garbage collections so far (null when /metrics does not say). */
async function majorGcs (url: string): Promise<number | null> {
  const res = await request(`${url}/metrics`, { timeoutMs: 5000 })
  const m = /^nodejs_gc_duration_seconds_count\{kind="major"\} (\d+)$/m.exec(res.body)
  return res.status === 200 && m !== null ? Number(m[1]) : null
}

/**
 * Has the server collect all its garbage once (bench/tools/gc-hook.ts) and waits until its
 * /metrics count it (at most 10 s); false when they do not.
 */
async function collectGarbage (server: Server): Promise<boolean> {
  const before = await majorGcs(server.url)
  process.kill(server.child.pid, 'SIGWINCH')
  for (let i = 0; i < 40 && before !== null; i++) {
    await delay(250)
    const now = await majorGcs(server.url)
    if (now !== null && now > before) return true
  }
  return false
}

/**
 * Where no index serves the login history (FerretDB 1.x), a page scans every event, and the
 * load writes events all along (one per refresh and login): the history's limit then grows with
 * the collection, the median number of events in the last window over that in the first.
 */
function historyScan (w: Windows, metrics: MetricsSample[]): Scan | undefined {
  if (metrics.some((m) => m.eventsIndexed === 1) || !metrics.some((m) => m.eventsIndexed === 0)) return undefined
  const events = perWindow(w, metrics, (m) => m.eventsWritten)
  const first = events[0]
  const last = events[events.length - 1]
  const scale = last / first
  return {
    scale,
    note: `no index serves its query on this database: a page scans the whole collection of login events, which grew from ${formatNumber(first)} to ${formatNumber(last)} (×${scale.toFixed(2)}) between the first window and the last; its limit is multiplied by that`
  }
}

async function main (argv: string[]): Promise<number> {
  const options = parseArgs(argv)
  const plan = planOf(options.durationS)
  const started = Date.now()
  const log = progressLog(started)

  let env: Environment | undefined
  try {
    log(`soak: ${plan.durationS} s of mixed load: ${plan.warmupS} s of warm-up ending with a full garbage collection in the server, then ${plan.windows} windows of ${(plan.measuredS / plan.windows).toFixed(0)} s${options.quick ? ' (quick)' : ''}`)
    env = await openEnvironment({ label: 'soak', distBench: __dirname, limitMs: (plan.durationS + 300) * 1000, log, childNodeArgs: ['-r', path.join(__dirname, 'tools', 'gc-hook.js'), ...options.nodeFlags] })
    const server = await env.startWarden('warden-soak')
    log(`warden: ${server.url} (pid ${server.child.pid}), ready in ${(server.startMs / 1000).toFixed(2)} s`)

    const accounts: Account[] = Array.from({ length: LOGIN_ACCOUNTS }, () => newAccount('soak'))
    const pool = new SessionPool()
    for (const account of accounts) {
      await register(server.url, account)
      for (let i = 0; i < SESSIONS_PER_ACCOUNT; i++) pool.add(await login(server.url, account))
    }
    log(`set-up: ${accounts.length} accounts, ${pool.size} sessions`)

    const routes = soakRoutes(server.url, pool, accounts)
    const records = new Map(routes.map((r) => [r.name, new RouteRecord(r.expectStatus)]))
    const sampler = new Sampler(server.url, server.child.pid, env.dbPid)
    const t0 = performance.now()
    const elapsedS = (): number => (performance.now() - t0) / 1000
    sampler.start(t0)
    const progress = setInterval(() => {
      const counts = routes.map((r) => `${r.name} ${formatNumber(records.get(r.name)?.responses)}`).join(', ')
      const last = sampler.processes[sampler.processes.length - 1]
      log(`${elapsedS().toFixed(0)} s: ${counts}; RSS ${last?.rssBytes == null ? '?' : (last.rssBytes / 1e6).toFixed(1)} MB`)
    }, Math.max(10, Math.round(plan.durationS / 12)) * 1000)
    const stop = new AbortController()
    const loads = Promise.all(routes.map((r) => {
      const record = records.get(r.name) as RouteRecord
      return drive(r.traffic, plan.durationS + 30, (status, ms) => { record.add(performance.now() - t0, status, ms) }, stop.signal)
    }))
    // Awaited below, after the warm-up: a load that fails meanwhile must not end the process first.
    loads.catch(() => {})
    let windows: Windows
    let results
    try {
      await delay(plan.warmupS * 1000)
      const collected = await collectGarbage(server)
      windows = windowsOf(plan, Math.round(elapsedS() * 10) / 10, collected)
      log(`warm-up over after ${windows.warmupS.toFixed(1)} s${collected ? ', with a full garbage collection in the server' : ' (the server did not report its full garbage collection)'}; ${windows.windows} windows of ${windows.windowS.toFixed(0)} s follow`)
      const ending = setTimeout(() => { stop.abort() }, (windows.durationS - elapsedS()) * 1000)
      try {
        results = await loads
      } finally {
        clearTimeout(ending)
      }
    } finally {
      stop.abort()
      clearInterval(progress)
      sampler.stop()
    }
    if (!server.child.running) throw new Error(`warden-soak exited during the load\n${server.child.logTail()}`)

    const scan = historyScan(windows, sampler.metrics)
    const figures = routes.map((r, i) => routeFigures(windows, r, records.get(r.name) as RouteRecord, results[i].errors, results[i].timeouts, r.name === 'history' ? scan : undefined))
    const memory = memoryFigures(windows, sampler.processes, sampler.metrics)
    const machine = machineWindows(windows, sampler.processes)
    const pass = figures.every((f) => f.errorsPass && f.p99Pass) && memory.rssPass

    const info = runInfo(env, new Date())
    const document = {
      schema: 1,
      kind: 'soak',
      ...info,
      versions: { fastify: packageVersion(env.root, 'fastify'), autocannon: packageVersion(env.root, 'autocannon'), argon2: packageVersion(env.root, 'argon2') },
      options,
      plan,
      windows,
      checks: {
        errors: 'every answer has its route\'s expected status, and no socket error or timeout (warm-up included): 0 allowed',
        p99: `per route, the last window's p99 ≤ ${P99_FACTOR} × the first window's p99 + ${P99_FLOOR_MS} ms (for the history where its page scans the collection, times the collection's growth from the first window to the last)`,
        rss: `median RSS of the last window < ${(1 + RSS_GROWTH).toFixed(2)} × the median of the first window after the warm-up`
      },
      pass,
      routes: figures,
      memory,
      metrics_scrape_failures: sampler.metricsFailures,
      login_events_windows: perWindow(windows, sampler.metrics, (m) => m.eventsWritten),
      history_indexed: sampler.latestMetrics()?.eventsIndexed === 1,
      machine_windows: machine,
      sessions_in_pool: pool.size,
      server_start_s: server.startMs / 1000,
      duration_s: Math.round((Date.now() - started) / 1000)
    }
    await server.child.stop()

    process.stdout.write(`\n${renderTable(windows, figures, memory)}\n\n`)
    const others = machine.map((m) => m.others).filter((v): v is number => v !== null)
    process.stdout.write(`CPU per window, cores: server ${machine.map((m) => m.server?.toFixed(2) ?? '?').join(' ')}; database ${machine.map((m) => m.database?.toFixed(2) ?? '?').join(' ')}; load ${machine.map((m) => m.generator.toFixed(2)).join(' ')}; other processes ${others.map((v) => v.toFixed(2)).join(' ')}\n`)
    process.stdout.write(`${pass ? 'All checks passed' : 'A check FAILED'}. ${info.database}, Node ${process.version}, ${info.cpu_model}, ${info.cores} cores, commit ${info.commit}${info.dirty === true ? ' (dirty tree)' : ''}.\n`)

    const json = toJson(document)
    const named = writeResults(path.join(env.root, 'bench', 'results', 'soak'), info, json)
    if (options.json !== null) writeAtomic(path.resolve(options.json), json)
    log(`wrote ${path.relative(process.cwd(), named)} and bench/results/soak/latest.json${options.json !== null ? ` and ${options.json}` : ''}`)

    await env.close(!pass)
    return pass ? 0 : 1
  } catch (err) {
    log(`failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
    await env?.close(true)
    return 1
  }
}

runCommand('soak', USAGE, main)
