/**
 * A steady load on a Warden process for the fault tests: a few clients, each sending one kind of
 * request after another (node:http, so that a refused connection, a reset and an answer can be
 * told apart), every request with a user agent of its own so that its login event can be found.
 */
import http from 'node:http'

export interface Call {
  /** What the request is, for reports and filters: `login`, `verify`, `me`... */
  kind: string
  method: 'GET' | 'POST'
  path: string
  body?: unknown
  headers?: Record<string, string>
  /** The username a login presents (kept with its answer). */
  username?: string
}

export interface Answer extends Call {
  /** The request's own user agent: `<kind>-<n>`, unique within the load. */
  agent: string
  /** When it was sent (Date.now()) and how long it took to its answer or failure. */
  sentAt: number
  ms: number
  /** The status, or null when no answer came (see `error`). */
  status: number | null
  /** The parsed JSON body of an answer that has one. */
  json?: unknown
  /** Why no answer came: ECONNREFUSED, ECONNRESET, timeout... */
  error?: string
}

export interface RequestOptions {
  agent?: http.Agent
  /** Gives up (error `timeout`) after this long; a hang must fail a test, not stall it. */
  timeoutMs?: number
}

/** One HTTP request to `base`; resolves with its answer or the reason there was none, never rejects. */
export function send (base: string, call: Call, agent: string, opts: RequestOptions = {}): Promise<Answer> {
  const url = new URL(call.path, base)
  const payload = call.body === undefined ? undefined : JSON.stringify(call.body)
  const headers: Record<string, string> = { 'user-agent': agent, ...call.headers }
  if (payload !== undefined) {
    headers['content-type'] = 'application/json'
    headers['content-length'] = String(Buffer.byteLength(payload))
  }
  const sentAt = Date.now()
  return new Promise((resolve) => {
    let settled = false
    const done = (status: number | null, extra: Partial<Answer>): void => {
      if (settled) return
      settled = true
      resolve({ ...call, agent, sentAt, ms: Date.now() - sentAt, status, ...extra })
    }
    const req = http.request(url, { method: call.method, headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', (err: NodeJS.ErrnoException) => done(null, { error: err.code ?? err.message }))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let json: unknown
        try {
          json = text === '' ? undefined : JSON.parse(text)
        } catch {
          json = text
        }
        done(res.statusCode ?? null, { json })
      })
    })
    req.setTimeout(opts.timeoutMs ?? 15_000, () => {
      done(null, { error: 'timeout' })
      req.destroy()
    })
    req.on('error', (err: NodeJS.ErrnoException) => done(null, { error: err.code ?? err.message }))
    req.end(payload)
  })
}

export interface LoadOptions {
  /** Keep connections open between requests (the default), or one connection per request. */
  keepAlive?: boolean
  /** Pause between two requests of one client (pacing, so that two cores are not saturated). */
  pauseMs?: number
  timeoutMs?: number
}

/** Numbers the requests of every load of the process: user agents stay unique across loads. */
let sequence = 0

export interface Load {
  /** Every request sent so far, answered or not, in the order they ended. */
  answers: Answer[]
  /** Stops sending; resolves when every client's last request has ended. */
  stop(): Promise<void>
}

/**
 * Starts one client per entry of `clients`: each calls its function with a running number and
 * sends what it returns, again and again, until `stop()`.
 */
export function startLoad (base: string, clients: Array<(n: number) => Call>, opts: LoadOptions = {}): Load {
  const answers: Answer[] = []
  let running = true
  const loop = async (next: (n: number) => Call): Promise<void> => {
    // Each client has its own connection (maxSockets: 1 per agent).
    const own = opts.keepAlive === false ? undefined : new http.Agent({ keepAlive: true, maxSockets: 1 })
    while (running) {
      const n = ++sequence
      const call = next(n)
      answers.push(await send(base, call, `${call.kind}-${n}`, { agent: own, timeoutMs: opts.timeoutMs }))
      if (opts.pauseMs !== undefined && opts.pauseMs > 0) await new Promise((resolve) => { setTimeout(resolve, opts.pauseMs) })
      else await new Promise((resolve) => { setImmediate(resolve) })
    }
    own?.destroy()
  }
  const loops = clients.map(loop)
  return {
    answers,
    async stop () {
      running = false
      await Promise.all(loops)
    }
  }
}
