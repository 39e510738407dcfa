/**
 * The soak's windows and its three checks, from what was recorded during the run:
 *
 * - errors: every answer has its route's expected status; socket errors and timeouts count
 *   too; none allowed, warm-up included;
 * - p99 stable: after the warm-up the run is cut into equal windows, and per route the last
 *   window's p99 must stay within P99_FACTOR × the first window's p99 + P99_FLOOR_MS (for a
 *   route that scans a collection the load makes grow, times that growth: see Scan);
 * - RSS: the median of the server's RSS samples in the last window must be less than
 *   RSS_GROWTH above the median of those in the first window after the warm-up, which ends with
 *   one full garbage collection in the server (bench/tools/gc-hook.ts).
 */
import { Samples } from '../lib/load'
import { median, percentile } from '../lib/stats'
import type { MetricsSample, ProcessSample } from './sampler'

/**
 * The last window's p99 may be this many times the first window's, plus P99_FLOOR_MS. Two cores
 * shared with other work move a p99 by tens of percent from one minute to the next, and a few
 * milliseconds of scheduling delay double a sub-millisecond p99: the bound catches a latency that
 * keeps growing (a scan over a growing collection, a cache that stops hitting, a heap that makes
 * the garbage collector work harder), not the machine's weather.
 */
export const P99_FACTOR = 2
export const P99_FLOOR_MS = 5
/** The RSS of the last window over that of the first window after the warm-up, at most 1 + this. */
export const RSS_GROWTH = 0.10

/** What a run is asked to do: the length of the load, its warm-up and windows. */
export interface Plan {
  /** seconds of load */
  durationS: number
  warmupS: number
  /** seconds after the warm-up, cut into `windows` equal windows */
  measuredS: number
  windows: number
}

/** What the run did: where its warm-up ended, and so where each window lies. */
export interface Windows {
  /** the warm-up, and the full garbage collection that ends it */
  warmupS: number
  /** whether the server reported that collection (its /metrics major collections count moved) */
  collected: boolean
  windows: number
  windowS: number
  /** warm-up + windows */
  durationS: number
}

/**
 * The warm-up is a fifth of a run shorter than 5 minutes, a tenth of a longer one; the rest is
 * cut into 2 to 9 windows of at least 10 s: 60 s give 12 s of warm-up and 4 windows of 12 s;
 * 600 s give 60 s and 9 windows of 60 s.
 */
export function planOf (durationS: number): Plan {
  const warmupS = Math.round(durationS * (durationS < 300 ? 0.2 : 0.1))
  const measuredS = durationS - warmupS
  const windows = Math.max(2, Math.min(9, Math.floor(measuredS / 10)))
  return { durationS, warmupS, measuredS, windows }
}

export function windowsOf (plan: Plan, warmupS: number, collected: boolean): Windows {
  return { warmupS, collected, windows: plan.windows, windowS: plan.measuredS / plan.windows, durationS: warmupS + plan.measuredS }
}

/** Which window a moment (ms since the load started) falls in: -1 for the warm-up. */
export function windowOf (w: Windows, tMs: number): number {
  if (tMs < w.warmupS * 1000) return -1
  return Math.min(w.windows - 1, Math.floor((tMs / 1000 - w.warmupS) / w.windowS))
}

/** Every answer of one route: statuses, and when each came and how long it took. */
export class RouteRecord {
  readonly statuses: Record<string, number> = {}
  /** ms since the load started, and latency in ms, of every answer */
  readonly at = new Samples()
  readonly latency = new Samples()
  /** answers whose status was not the expected one */
  wrongStatus = 0

  constructor (readonly expectStatus: number) {}

  get responses (): number {
    return this.at.length
  }

  add (tMs: number, status: number, ms: number): void {
    this.statuses[status] = (this.statuses[status] ?? 0) + 1
    if (status !== this.expectStatus) this.wrongStatus++
    this.at.push(tMs)
    this.latency.push(ms)
  }

  /** The latencies of each window. */
  windows (w: Windows): Samples[] {
    const out = Array.from({ length: w.windows }, () => new Samples())
    const at = this.at.values()
    const latency = this.latency.values()
    for (let i = 0; i < at.length; i++) {
      const n = windowOf(w, at[i])
      if (n >= 0) out[n].push(latency[i])
    }
    return out
  }
}

export interface WindowFigures {
  requests: number
  p50: number
  p99: number
  max: number
}

export interface RouteFigures {
  name: string
  title: string
  expectStatus: number
  /** offered rate, requests per second */
  rate: number
  connections: number
  /** answers per second after the warm-up */
  rps: number
  responses: number
  statuses: Record<string, number>
  wrongStatus: number
  /** socket errors and timeouts, as autocannon counted them */
  errors: number
  timeouts: number
  /** wrongStatus + errors */
  unexpected: number
  /** over every window after the warm-up */
  p50: number
  p99: number
  windows: WindowFigures[]
  p99First: number
  p99Last: number
  /** what the limit is multiplied by: 1, or the growth of what the route must scan (see `scaleNote`) */
  limitScale: number
  scaleNote: string | null
  /** (P99_FACTOR × p99First + P99_FLOOR_MS) × limitScale */
  p99Limit: number
  errorsPass: boolean
  p99Pass: boolean
}

function figuresOf (samples: Samples): WindowFigures {
  const sorted = samples.sorted()
  return { requests: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.length > 0 ? sorted[sorted.length - 1] : NaN }
}

/**
 * A route whose every answer scans a collection that the load makes grow: its limit grows with
 * the collection (documents in the last window ÷ documents in the first), and the check catches
 * a cost growing faster than the data it reads.
 */
export interface Scan {
  scale: number
  note: string
}

export function routeFigures (w: Windows, route: { name: string, title: string, rate: number, connections: number }, record: RouteRecord, errors: number, timeouts: number, scan?: Scan): RouteFigures {
  const samples = record.windows(w)
  const windows = samples.map(figuresOf)
  const all = new Samples()
  for (const s of samples) for (const v of s.values()) all.push(v)
  const overall = figuresOf(all)
  const p99First = windows[0].p99
  const p99Last = windows[windows.length - 1].p99
  const limitScale = scan?.scale ?? 1
  const p99Limit = (P99_FACTOR * p99First + P99_FLOOR_MS) * limitScale
  const unexpected = record.wrongStatus + errors
  return {
    name: route.name,
    title: route.title,
    expectStatus: record.expectStatus,
    rate: route.rate,
    connections: route.connections,
    rps: overall.requests / (w.durationS - w.warmupS),
    responses: record.responses,
    statuses: record.statuses,
    wrongStatus: record.wrongStatus,
    errors,
    timeouts,
    unexpected,
    p50: overall.p50,
    p99: overall.p99,
    windows,
    p99First,
    p99Last,
    limitScale,
    scaleNote: scan?.note ?? null,
    p99Limit,
    errorsPass: unexpected === 0,
    // A window without an answer has no p99 (NaN): that fails too.
    p99Pass: Number.isFinite(p99First) && Number.isFinite(p99Last) && Number.isFinite(p99Limit) && p99Last <= p99Limit
  }
}

/** The median of `value` over the samples of each window. */
export function perWindow<T extends { t: number }> (w: Windows, samples: T[], value: (s: T) => number | null): number[] {
  return Array.from({ length: w.windows }, (_, n) => median(samples.filter((s) => windowOf(w, s.t) === n).map(value)))
}

export interface MemoryFigures {
  /** medians of the server's RSS samples, MB (10^6 bytes), per window */
  rssWindowsMB: number[]
  rssFirstMB: number
  rssLastMB: number
  /** rssLast ÷ rssFirst − 1 */
  rssGrowth: number
  rssPass: boolean
  /** the largest RSS sample of the run, warm-up included */
  rssMaxMB: number
  /** medians of the V8 heap used, MB, per window (from /metrics) */
  heapWindowsMB: number[]
  rssSamples: number
}

export function memoryFigures (w: Windows, processes: ProcessSample[], metrics: MetricsSample[]): MemoryFigures {
  const rssWindowsMB = perWindow(w, processes, (s) => s.rssBytes).map((v) => v / 1e6)
  const rssFirstMB = rssWindowsMB[0]
  const rssLastMB = rssWindowsMB[rssWindowsMB.length - 1]
  const rssGrowth = rssLastMB / rssFirstMB - 1
  return {
    rssWindowsMB,
    rssFirstMB,
    rssLastMB,
    rssGrowth,
    rssPass: Number.isFinite(rssGrowth) && rssGrowth < RSS_GROWTH,
    rssMaxMB: Math.max(...processes.map((s) => s.rssBytes ?? 0)) / 1e6,
    heapWindowsMB: perWindow(w, metrics, (s) => s.heapUsedBytes).map((v) => v / 1e6),
    rssSamples: processes.filter((s) => s.rssBytes !== null).length
  }
}

export interface MachineWindow {
  /** CPU in cores over the window: the server, the database, this process (the load), everything else */
  server: number | null
  database: number | null
  generator: number
  others: number | null
  steal: number | null
}

/** Who used the CPU in each window, from the samples nearest its edges. */
export function machineWindows (w: Windows, processes: ProcessSample[]): MachineWindow[] {
  const at = (tMs: number): ProcessSample => processes.reduce((best, s) => (Math.abs(s.t - tMs) < Math.abs(best.t - tMs) ? s : best))
  const cores = (a: number | null, b: number | null, ms: number): number | null => (a === null || b === null || ms <= 0 ? null : (b - a) / ms)
  return Array.from({ length: w.windows }, (_, n) => {
    const from = at((w.warmupS + n * w.windowS) * 1000)
    const to = at((w.warmupS + (n + 1) * w.windowS) * 1000)
    const ms = to.t - from.t
    const server = cores(from.serverCpuMs, to.serverCpuMs, ms)
    const database = cores(from.databaseCpuMs, to.databaseCpuMs, ms)
    const generator = cores(from.generatorCpuMs, to.generatorCpuMs, ms) ?? 0
    const busy = cores(from.machineBusyMs, to.machineBusyMs, ms)
    return {
      server,
      database,
      generator,
      others: busy === null ? null : Math.max(0, busy - (server ?? 0) - (database ?? 0) - generator),
      steal: cores(from.stealMs, to.stealMs, ms)
    }
  })
}
