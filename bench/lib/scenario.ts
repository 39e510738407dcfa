/**
 * The interface every scenario implements. A run sets every selected scenario up, then
 * measures them round after round, alternating (reference, subject in odd rounds; subject,
 * reference in even ones), so that each figure can be put over a reference measured moments
 * before or after it, and finally asks each scenario to summarise its rounds into table rows.
 */
import type { LoadFigures } from './load'
import type { NodeChild } from './processes'

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

/** A server child that answered its readiness URL. */
export interface Server {
  name: string
  /** http://127.0.0.1:<port> */
  url: string
  child: NodeChild
  /** milliseconds from spawn to the first 200 of its readiness URL */
  startMs: number
}

export interface BenchContext {
  readonly options: BenchOptions
  /** os.availableParallelism() */
  readonly cores: number
  /** project root (where package.json is) */
  readonly root: string
  /** compiled bench folder (dist/bench) */
  readonly distBench: string
  /** temporary folder of this run: logs, database files */
  readonly runDir: string
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
