// Minimal typings for the parts of autocannon 8 that the benchmark uses
// (the package ships no declarations).
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  namespace autocannon {
    interface Request {
      method?: string
      path?: string
      headers?: Record<string, string>
      body?: string | Buffer
      /** Called before each send; `context` is the connection's, fresh at each pass over `requests`. */
      setupRequest?: (request: Request, context: Record<string, unknown>) => Request
      /** Called with each answer to this request, before the connection sends its next one. */
      onResponse?: (status: number, body: string, context: Record<string, unknown>, headers: Record<string, string | string[]>) => void
    }

    interface Options {
      url: string
      connections?: number
      duration?: number
      amount?: number
      pipelining?: number
      /** requests per second over all connections */
      overallRate?: number
      /** requests per second of each connection */
      connectionRate?: number
      timeout?: number
      method?: string
      headers?: Record<string, string>
      body?: string | Buffer
      requests?: Request[]
      bailout?: number
      excludeErrorStats?: boolean
      title?: string
    }

    interface Histogram {
      average: number
      mean: number
      stddev: number
      min: number
      max: number
      total: number
      p50: number
      p90: number
      p99: number
      [percentile: string]: number
    }

    interface Result {
      title?: string
      url: string
      connections: number
      duration: number
      start: Date
      finish: Date
      errors: number
      timeouts: number
      mismatches: number
      non2xx: number
      resets: number
      '1xx': number
      '2xx': number
      '3xx': number
      '4xx': number
      '5xx': number
      statusCodeStats: Record<string, { count: number }>
      latency: Histogram
      requests: Histogram & { sent: number }
      throughput: Histogram
    }

    interface Client {
      setHeaders(headers: Record<string, string>): void
    }

    interface Instance extends EventEmitter, PromiseLike<Result> {
      stop(): void
      on(event: 'response', listener: (client: Client, statusCode: number, resBytes: number, responseTime: number) => void): this
      on(event: 'reqError', listener: (err: Error) => void): this
      on(event: 'done', listener: (result: Result) => void): this
      on(event: string, listener: (...args: unknown[]) => void): this
      catch(onRejected: (err: unknown) => void): Promise<Result | void>
    }
  }

  function autocannon (options: autocannon.Options): autocannon.Instance
  export = autocannon
}
