/**
 * What the soak watches besides the answers: the server's RSS (VmRSS) and CPU time, the
 * database's CPU time, the machine's busy time and this process's own CPU, every second; and
 * from the server's /metrics (loopback only) every two seconds, its V8 heap (to tell a growing
 * heap from memory the allocator keeps), its full garbage collections (which end the warm-up)
 * and the login events it has written (what a history page scans where no index serves it).
 */
import { cpuMs, machineCpu, request, rssBytes } from '../lib/processes'

export interface ProcessSample {
  /** ms since the load started */
  t: number
  rssBytes: number | null
  serverCpuMs: number | null
  databaseCpuMs: number | null
  machineBusyMs: number | null
  stealMs: number | null
  generatorCpuMs: number
}

export interface MetricsSample {
  t: number
  heapUsedBytes: number
  externalBytes: number | null
  /** process_resident_memory_bytes: the server's own view of its RSS */
  residentBytes: number | null
  /** full (major) garbage collections since the server started */
  majorGcs: number | null
  /** login events the server has written to the database since it started */
  eventsWritten: number | null
  /** 1 when history pages come from indexes, 0 when they scan the collection */
  eventsIndexed: number | null
}

const PROCESS_EVERY_MS = 1000
const METRICS_EVERY_MS = 2000

/** The value of a metric in Prometheus' text format (`labels` as written, e.g. `kind="major"`); null when absent. */
function metric (text: string, name: string, labels = ''): number | null {
  const m = new RegExp(`^${name}${labels === '' ? '' : `\\{${labels}\\}`} ([0-9.e+-]+)$`, 'm').exec(text)
  return m === null ? null : Number(m[1])
}

export class Sampler {
  readonly processes: ProcessSample[] = []
  readonly metrics: MetricsSample[] = []
  /** /metrics scrapes that failed (the server is judged by the load's answers, not by these) */
  metricsFailures = 0
  private timers: NodeJS.Timeout[] = []
  private t0 = 0

  constructor (private readonly url: string, private readonly pid: number, private readonly dbPid: number | undefined) {}

  start (t0: number): void {
    this.t0 = t0
    this.sampleProcess()
    void this.sampleMetrics()
    this.timers.push(setInterval(() => { this.sampleProcess() }, PROCESS_EVERY_MS))
    this.timers.push(setInterval(() => { void this.sampleMetrics() }, METRICS_EVERY_MS))
  }

  stop (): void {
    for (const timer of this.timers) clearInterval(timer)
    this.timers = []
    this.sampleProcess()
  }

  private sampleProcess (): void {
    const machine = machineCpu()
    const generator = process.cpuUsage()
    this.processes.push({
      t: performance.now() - this.t0,
      rssBytes: rssBytes(this.pid) ?? null,
      serverCpuMs: cpuMs(this.pid) ?? null,
      databaseCpuMs: this.dbPid === undefined ? null : cpuMs(this.dbPid) ?? null,
      machineBusyMs: machine?.busyMs ?? null,
      stealMs: machine?.stealMs ?? null,
      generatorCpuMs: (generator.user + generator.system) / 1000
    })
  }

  /** The latest scrape's figures, if any. */
  latestMetrics (): MetricsSample | undefined {
    return this.metrics[this.metrics.length - 1]
  }

  private async sampleMetrics (): Promise<void> {
    const t = performance.now() - this.t0
    try {
      const res = await request(`${this.url}/metrics`, { timeoutMs: 5000 })
      const heapUsedBytes = metric(res.body, 'nodejs_heap_size_used_bytes')
      if (res.status !== 200 || heapUsedBytes === null) throw new Error(`GET /metrics answered ${res.status}`)
      this.metrics.push({
        t,
        heapUsedBytes,
        externalBytes: metric(res.body, 'nodejs_external_memory_bytes'),
        residentBytes: metric(res.body, 'process_resident_memory_bytes'),
        majorGcs: metric(res.body, 'nodejs_gc_duration_seconds_count', 'kind="major"'),
        eventsWritten: metric(res.body, 'warden_login_events_written_total'),
        eventsIndexed: metric(res.body, 'warden_login_events_indexed')
      })
    } catch {
      this.metricsFailures++
    }
  }
}
