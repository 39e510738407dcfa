/**
 * One load measurement with autocannon, driven from this process against a server child:
 * a warm-up, then a fixed number of connections for a fixed duration, while the server's
 * RSS and CPU time are sampled.
 */
import autocannon from 'autocannon'
import fs from 'node:fs'
import path from 'node:path'
import { cpuMs, delay, HOST, machineCpu, rssBytes } from './processes'
import { percentile } from './stats'

/** What autocannon sends: the requests, over how many connections, at what rate. */
export interface TrafficSpec {
  /** Base URL of the server, e.g. http://127.0.0.1:41234 */
  url: string
  path: string
  method?: 'GET' | 'POST'
  headers?: Record<string, string>
  /** Requests cycled through by every connection (overrides path/method/headers/body). */
  requests?: autocannon.Request[]
  body?: string
  connections: number
  /**
   * Requests per second over all connections; unset: as fast as the server answers. autocannon
   * lets each connection send its share of a second's requests, then wait for the next second.
   */
  overallRate?: number
}

export interface LoadSpec extends TrafficSpec {
  /** seconds */
  warmup: number
  /** seconds */
  duration: number
  /** The server process whose RSS and CPU time are sampled. */
  pid: number
  /** The database server, whose CPU time is measured too (when it runs on this machine). */
  dbPid?: number
  /** Status every response must have; others count as non-2xx/unexpected. */
  expectStatus: number
  /**
   * Profile the server during the measured period: the child runs bench/tools/profile-hook
   * and writes `<dir>/<name>.cpuprofile` (plus `<name>.json` with the request count).
   */
  profile?: { dir: string, name: string }
}

export interface LoadFigures {
  /** completed requests per second (all statuses) */
  rps: number
  /** latency percentiles in milliseconds, from every response of the measured period */
  p50: number
  p99: number
  mean: number
  requests: number
  non2xx: number
  /** responses whose status was not `expectStatus` (includes non-2xx) */
  unexpected: number
  errors: number
  timeouts: number
  statusCodes: Record<string, number>
  /** largest VmRSS of the server sampled during the measured period, MB (10^6 bytes) */
  rssMaxMB: number | null
  /** server CPU time per completed request, microseconds */
  cpuPerRequestUs: number | null
  /** server CPU use during the measured period, in cores (1.0 = one core busy) */
  serverCores: number | null
  /** CPU use of this process (the load generator) during the measured period, in cores */
  generatorCores: number
  /** CPU use of the database server during the measured period, in cores (null when not measured) */
  databaseCores: number | null
  /**
   * CPU used by every other process of the machine during the measured period, in cores: a
   * disturbed measurement shows here (null when /proc/stat is unavailable)
   */
  otherCores: number | null
  /** CPU time stolen by the hypervisor during the measured period, in cores */
  stealCores: number | null
  /** true when a disturbed period was measured again (see measureLoad) */
  remeasured?: boolean
  /** seconds actually measured */
  duration: number
  connections: number
}

const RSS_SAMPLE_MS = 200

/** Growable list of latencies, cheap to append to at high request rates. */
export class Samples {
  private buf = new Float64Array(1 << 16)
  length = 0
  push (v: number): void {
    if (this.length === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2)
      next.set(this.buf)
      this.buf = next
    }
    this.buf[this.length++] = v
  }

  /** The values in the order they came (a view: valid until the next push). */
  values (): Float64Array {
    return this.buf.subarray(0, this.length)
  }

  sorted (): Float64Array {
    return this.buf.slice(0, this.length).sort()
  }
}

/**
 * Sends `spec`'s traffic for `duration` seconds; `onResponse` sees every response's status and
 * latency (ms). Stopped early by stopLoad() or by `signal`.
 */
export function drive (spec: TrafficSpec, duration: number, onResponse?: (status: number, ms: number) => void, signal?: AbortSignal): Promise<autocannon.Result> {
  if (!spec.url.startsWith(`http://${HOST}:`)) throw new Error(`load target must be on ${HOST}: ${spec.url}`)
  const instance = autocannon({
    url: spec.url,
    connections: spec.connections,
    overallRate: spec.overallRate,
    duration,
    timeout: 10,
    requests: spec.requests ?? [{
      method: spec.method ?? 'GET',
      path: spec.path,
      headers: spec.headers,
      body: spec.body
    }]
  })
  if (onResponse !== undefined) {
    instance.on('response', (_client, statusCode, _bytes, responseTime) => { onResponse(statusCode, responseTime) })
  }
  current.add(instance)
  const stop = (): void => { instance.stop() }
  signal?.addEventListener('abort', stop, { once: true })
  return new Promise<autocannon.Result>((resolve, reject) => {
    instance.then(resolve, reject)
  }).finally(() => {
    current.delete(instance)
    signal?.removeEventListener('abort', stop)
  })
}

const current = new Set<autocannon.Instance>()

/** Stops load generation in flight (on SIGINT). */
export function stopLoad (): void {
  for (const instance of current) instance.stop()
}

/** Other processes above this many cores during a measured period: measured again, once. */
const DISTURBED_CORES = 0.3
let remeasureDisturbed = true

/** Turns measuring disturbed periods again on or off (off for --quick, whose duration is bounded). */
export function setRemeasure (enabled: boolean): void {
  remeasureDisturbed = enabled
}

/**
 * Warm-up, then the measured period. When other processes of the machine took more than
 * DISTURBED_CORES during it, the period is measured once more (after a short warm-up) and the
 * less disturbed of the two is kept.
 */
export async function measureLoad (spec: LoadSpec): Promise<LoadFigures> {
  const first = await measureOnce(spec, spec.warmup)
  if (!remeasureDisturbed || first.otherCores === null || first.otherCores <= DISTURBED_CORES) return first
  const again = spec.profile === undefined ? spec : { ...spec, profile: { ...spec.profile, name: `${spec.profile.name}-again` } }
  const second = await measureOnce(again, Math.min(1, spec.warmup))
  const kept = (second.otherCores ?? Infinity) < first.otherCores ? second : first
  return { ...kept, remeasured: true }
}

async function measureOnce (spec: LoadSpec, warmup: number): Promise<LoadFigures> {
  if (warmup > 0) await drive(spec, warmup)

  let rssMax = 0
  const sampleRss = (): void => {
    const rss = rssBytes(spec.pid)
    if (rss !== undefined && rss > rssMax) rssMax = rss
  }
  const latencies = new Samples()
  let unexpected = 0
  if (spec.profile !== undefined) {
    fs.mkdirSync(spec.profile.dir, { recursive: true })
    fs.writeFileSync(path.join(spec.profile.dir, `next-${spec.pid}.txt`), spec.profile.name)
    process.kill(spec.pid, 'SIGWINCH')
    await delay(50)
  }
  const cpuBefore = cpuMs(spec.pid)
  const generatorBefore = process.cpuUsage()
  const dbBefore = spec.dbPid === undefined ? undefined : cpuMs(spec.dbPid)
  const machineBefore = machineCpu()
  const t0 = performance.now()
  sampleRss()
  const sampler = setInterval(sampleRss, RSS_SAMPLE_MS)
  let result: autocannon.Result
  try {
    result = await drive(spec, spec.duration, (status, ms) => {
      latencies.push(ms)
      if (status !== spec.expectStatus) unexpected++
    })
  } finally {
    clearInterval(sampler)
    if (spec.profile !== undefined) process.kill(spec.pid, 'SIGWINCH')
  }
  sampleRss()
  const elapsedMs = performance.now() - t0
  const cpuAfter = cpuMs(spec.pid)
  const generator = process.cpuUsage(generatorBefore)
  const dbAfter = spec.dbPid === undefined ? undefined : cpuMs(spec.dbPid)
  const machineAfter = machineCpu()

  const sorted = latencies.sorted()
  const completed = result.requests.total
  const cpu = cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined
  let sum = 0
  for (const v of sorted) sum += v
  const generatorCores = (generator.user + generator.system) / 1000 / elapsedMs
  const databaseCores = dbBefore !== undefined && dbAfter !== undefined ? (dbAfter - dbBefore) / elapsedMs : null
  const serverCores = cpu !== undefined ? cpu / elapsedMs : null
  let otherCores: number | null = null
  let stealCores: number | null = null
  if (machineBefore !== undefined && machineAfter !== undefined) {
    const busy = (machineAfter.busyMs - machineBefore.busyMs) / elapsedMs
    otherCores = Math.max(0, busy - (serverCores ?? 0) - generatorCores - (databaseCores ?? 0))
    stealCores = (machineAfter.stealMs - machineBefore.stealMs) / elapsedMs
  }
  const statusCodes: Record<string, number> = {}
  for (const [code, { count }] of Object.entries(result.statusCodeStats)) statusCodes[code] = count
  if (spec.profile !== undefined) {
    fs.writeFileSync(path.join(spec.profile.dir, `${spec.profile.name}.json`), JSON.stringify({ requests: completed, seconds: result.duration, path: spec.path, connections: spec.connections }) + '\n')
  }
  return {
    rps: completed / result.duration,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    mean: sorted.length > 0 ? sum / sorted.length : NaN,
    requests: completed,
    non2xx: result.non2xx,
    unexpected: unexpected + result.errors,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    rssMaxMB: rssMax > 0 ? rssMax / 1e6 : null,
    cpuPerRequestUs: cpu !== undefined && completed > 0 ? cpu * 1000 / completed : null,
    serverCores,
    generatorCores,
    databaseCores,
    otherCores,
    stealCores,
    duration: result.duration,
    connections: spec.connections
  }
}
