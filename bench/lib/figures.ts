import type { LoadFigures } from './load'
import type { RoundResult, Row, Target } from './scenario'
import { check } from './scenario'
import { max, median, sum } from './stats'

/** Medians over rounds of the load figures; non-2xx summed, RSS the largest seen. */
export function loadColumns (loads: LoadFigures[]): Pick<Row, 'rps' | 'p50' | 'p99' | 'non2xx' | 'rssMB' | 'cpuUs'> {
  return {
    cpuUs: median(loads.map((l) => l.cpuPerRequestUs)),
    rps: median(loads.map((l) => l.rps)),
    p50: median(loads.map((l) => l.p50)),
    p99: median(loads.map((l) => l.p99)),
    non2xx: sum(loads.map((l) => l.unexpected)),
    rssMB: max(loads.map((l) => l.rssMaxMB))
  }
}

/** Details of a load row kept in the JSON: every round's figures. */
export function loadDetail (loads: LoadFigures[]): Record<string, number[] | number | null> {
  return {
    rps_rounds: loads.map((l) => round(l.rps, 1)),
    p50_ms_rounds: loads.map((l) => round(l.p50, 3)),
    p99_ms_rounds: loads.map((l) => round(l.p99, 3)),
    cpu_us_per_request: round(median(loads.map((l) => l.cpuPerRequestUs)), 2),
    server_cores: round(median(loads.map((l) => l.serverCores)), 2),
    generator_cores: round(median(loads.map((l) => l.generatorCores)), 2),
    database_cores: round(median(loads.map((l) => l.databaseCores)), 2),
    other_cores_rounds: loads.map((l) => round(l.otherCores, 2)),
    steal_cores_rounds: loads.map((l) => round(l.stealCores, 2)),
    remeasured_rounds: loads.filter((l) => l.remeasured === true).length,
    cpu_us_per_request_rounds: loads.map((l) => round(l.cpuPerRequestUs, 2)),
    connections: loads[0]?.connections ?? null,
    requests: sum(loads.map((l) => l.requests)),
    errors: sum(loads.map((l) => l.errors))
  }
}

/** The load `key` of every round of a scenario (rounds that lack it are skipped). */
export function loadsOf (rounds: RoundResult[], key: string): LoadFigures[] {
  return rounds.map((r) => r.loads[key]).filter((l): l is LoadFigures => l !== undefined)
}

/** Per-round quotient a[i] / b[i] of two equally long series (pairs measured in the same round). */
export function pairwise (a: number[], b: number[]): number[] {
  const n = Math.min(a.length, b.length)
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push(a[i] / b[i])
  return out
}

/** A row's figure, target and verdict from the per-round figures (the median is the figure). */
export function verdict (figureRounds: number[], target?: Target): Pick<Row, 'figure' | 'figureRounds' | 'target' | 'pass'> {
  const figure = median(figureRounds)
  return { figure, figureRounds: figureRounds.map((v) => round(v, 4)), target, pass: target === undefined ? undefined : check(target, figure) }
}

/** Rounded to `digits` decimals; NaN (written as null in the JSON) when there is no figure. */
export function round (v: number | null | undefined, digits: number): number {
  if (v === null || v === undefined || !Number.isFinite(v)) return NaN
  const f = 10 ** digits
  return Math.round(v * f) / f
}
