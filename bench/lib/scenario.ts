/**
 * The interface every scenario implements. A run sets every selected scenario up, then
 * measures them round after round, alternating (reference, subject in odd rounds; subject,
 * reference in even ones), so that each figure can be put over a reference measured moments
 * before or after it, and finally asks each scenario to summarise its rounds into table rows.
 */
import type { Environment, Server } from './environment'
import type { LoadFigures } from './load'

export type { Server } from './environment'

export interface BenchOptions {
  quick: boolean
  /** measurement rounds; every scenario is measured once per round */
  rounds: number
  /** seconds of load before each measured period */
  warmup: number
  /** seconds of each measured throughput period */
  duration: number
  /** connections of the throughput scenarios */
  connections: number
  /** seconds of each measured login period */
  loginDuration: number
  /** sequential argon2.verify calls of the bare baseline, per round */
  argon2Iterations: number
  /** server starts timed per round (each for Warden and for the reference server) */
  starts: number
  /** scenario names given with --only (their dependencies are added), or null for all */
  only: string[] | null
  /** extra file to write the JSON results to */
  json: string | null
  /** write V8 CPU profiles of the server children to bench/results/profiles */
  cpuProf: boolean
}

/** What a scenario gets from the run: the environment's servers and database, the options, profiling. */
export interface BenchContext extends Omit<Environment, 'close' | 'databaseKind'> {
  readonly options: BenchOptions
  /** With --cpu-prof: where a measured load period on `server` writes its CPU profile; otherwise undefined. */
  profile(server: Server, label: string, round: number): { dir: string, name: string } | undefined
}

/** What one round of one scenario measured. */
export interface RoundResult {
  /** load measurements by key, e.g. { verify: {...} } */
  loads: Record<string, LoadFigures>
  /** other figures by key, e.g. { argon2P50Ms: 41.2 } */
  values: Record<string, number>
}

export interface Target {
  op: '>=' | '<='
  value: number
}

export type Unit = 'x' | 'MB' | 's' | 'ms' | '/s'

/** One line of the results table. */
export interface Row {
  scenario: string
  label: string
  rps?: number
  p50?: number
  p99?: number
  non2xx?: number
  rssMB?: number
  /** server CPU time per request, microseconds (median over rounds) */
  cpuUs?: number
  /** the figure compared with the target: a ratio (unit 'x') or an absolute value */
  figure?: number
  unit?: Unit
  /** what the figure is, e.g. 'verify req/s ÷ reference req/s' */
  figureDescription?: string
  /** the figure of each round, in round order */
  figureRounds?: number[]
  target?: Target
  pass?: boolean
  /** everything else worth keeping in the JSON */
  detail?: Record<string, number | string | boolean | null | number[]>
}

export interface Scenario {
  /** short name used by --only and in the JSON */
  readonly name: string
  readonly title: string
  /** one paragraph: what it measures and why */
  readonly description: string
  /** scenarios whose rounds this one's summary reads (added to the run and measured before it) */
  readonly needs?: readonly string[]
  setup(ctx: BenchContext): Promise<void>
  /** One measurement. Rounds of all scenarios are interleaved. */
  runRound(ctx: BenchContext, round: number): Promise<RoundResult>
  /** Table rows from this scenario's rounds and those of the scenarios it needs. */
  summarise(ctx: BenchContext, rounds: RoundResult[], others: ReadonlyMap<string, RoundResult[]>): Row[]
  teardown(ctx: BenchContext): Promise<void>
}

export type ScenarioFactory = () => Scenario

export function check (target: Target, figure: number): boolean {
  if (!Number.isFinite(figure)) return false
  return target.op === '>=' ? figure >= target.value : figure <= target.value
}
