import fp from 'fastify-plugin'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, onResponseHookHandler, RouteOptions } from 'fastify'
import { hookList } from '../src/lib/route-hooks'

/** What every Warden metric's name starts with. */
export const PREFIX = 'warden_'

/** Options of one metric family; the name is given without PREFIX. */
export interface FamilyOptions<L extends string> {
  name: string
  help: string
  labelNames?: readonly L[]
}

export interface Metrics {
  /** This app's registry: each instance has its own, the default process metrics included. */
  readonly registry: Registry
  counter<L extends string = never>(options: FamilyOptions<L>): Counter<L>
  gauge<L extends string = never>(options: FamilyOptions<L>): Gauge<L>
  histogram<L extends string = never>(options: FamilyOptions<L> & { buckets: number[] }): Histogram<L>
  /** A counter whose value is a total the owner already keeps, read when the metrics are scraped. */
  total(name: string, help: string, read: () => number): void
  /** The same for totals kept by one label's value (`{global: 3, auth: 1}` with label `tier`). */
  totals(name: string, help: string, label: string, read: () => Record<string, number>): void
  /** A gauge read when the metrics are scraped. */
  level(name: string, help: string, read: () => number): void
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

/** The route label of requests that matched no route (answered 404 or 405). */
export const UNMATCHED_ROUTE = 'unmatched'

/** Seconds; the forward-auth check answers in well under a millisecond. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

type Label = 'route' | 'method' | 'status_code'

/** One (route, method, status) series: its request count, and its latency histogram's observe. */
interface Cell {
  labels: Record<Label, string>
  count: number
  observe: (seconds: number) => void
}

/**
 * Owns the registry that every other plugin registers its metrics on (loaded first, so that each
 * owner declares its own families), and counts the HTTP requests: per route pattern (never the
 * raw URL), method and status code. The latency is the one Fastify already measures for the
 * reply; what a request adds is two map look-ups, a count and one histogram observe.
 */
async function metrics (fastify: FastifyInstance): Promise<void> {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  fastify.addHook('onClose', async () => { registry.clear() })

  // A prom-client metric joins the registries it is given: nothing else needs to hold it.
  const service: Metrics = {
    registry,
    counter: (options) => new Counter({ ...options, name: PREFIX + options.name, labelNames: options.labelNames ?? [], registers: [registry] }),
    gauge: (options) => new Gauge({ ...options, name: PREFIX + options.name, labelNames: options.labelNames ?? [], registers: [registry] }),
    histogram: (options) => new Histogram({ ...options, name: PREFIX + options.name, labelNames: options.labelNames ?? [], registers: [registry] }),
    total (name, help, read) {
      new Counter({ name: PREFIX + name, help, registers: [registry], collect () { this.reset(); this.inc(read()) } })
    },
    totals (name, help, label, read) {
      new Counter({
        name: PREFIX + name,
        help,
        labelNames: [label],
        registers: [registry],
        collect () {
          this.reset()
          for (const [value, n] of Object.entries(read())) this.inc({ [label]: value }, n)
        }
      })
    },
    level (name, help, read) {
      new Gauge({ name: PREFIX + name, help, registers: [registry], collect () { this.set(read()) } })
    }
  }
  fastify.decorate('metrics', service)

  const cells: Cell[] = []
  const duration = service.histogram<Label>({
    name: 'http_request_duration_seconds',
    help: 'Time from the request\'s arrival to the end of its response, by route pattern, method and status code',
    labelNames: ['route', 'method', 'status_code'],
    buckets: LATENCY_BUCKETS
  })
  new Counter<Label>({
    name: `${PREFIX}http_requests_total`,
    help: 'Requests answered, by route pattern (`unmatched` for no route), method and status code',
    labelNames: ['route', 'method', 'status_code'],
    registers: [registry],
    collect () {
      this.reset()
      for (const cell of cells) this.inc(cell.labels, cell.count)
    }
  })

  /** The series of one route pattern, made as each (method, status) is first answered. */
  function seriesOf (route: string): (method: string, status: number, ms: number) => void {
    const byMethod = new Map<string, Map<number, Cell>>()
    return (method, status, ms) => {
      let byStatus = byMethod.get(method)
      if (byStatus === undefined) {
        byStatus = new Map()
        byMethod.set(method, byStatus)
      }
      let cell = byStatus.get(status)
      if (cell === undefined) {
        const labels = { route, method, status_code: String(status) }
        cell = { labels, count: 0, observe: duration.labels(labels).observe }
        byStatus.set(status, cell)
        cells.push(cell)
      }
      cell.count++
      cell.observe(ms / 1000)
    }
  }

  // Each route gets its own hook, closed over its pattern: nothing is looked up per request.
  fastify.addHook('onRoute', (route: RouteOptions) => {
    const record = seriesOf(route.url)
    const own = hookList(route.onResponse)
    const hook: onResponseHookHandler = function countRequest (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
      record(request.method, reply.statusCode, reply.elapsedTime)
      done()
    }
    route.onResponse = [...own, hook]
  })
  const unmatched = seriesOf(UNMATCHED_ROUTE)
  fastify.addHook('onResponse', function countUnmatched (request, reply, done) {
    if (request.is404) unmatched(request.method, reply.statusCode, reply.elapsedTime)
    done()
  })
}

export default fp(metrics, { name: 'metrics', fastify: '5.x' })
