import net from 'node:net'
import type { FastifyInstance } from 'fastify'

/** Starts `app` on a free loopback port (closed with the app) and returns the port. */
export async function listen (app: FastifyInstance): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('not listening on a port')
  return address.port
}

export interface RawResponse {
  /** 0 when no status line arrived */
  status: number
  /** header names lower-cased; repeated headers joined with ", " */
  headers: Record<string, string>
  /** the header block as received, bytes as latin1 */
  head: string
  body: string
  /** the server closed the connection */
  closed: boolean
  /** nothing more arrived within the time limit and the connection was still open */
  timedOut: boolean
  /** milliseconds from the first byte written to the end of the response (or to the time limit) */
  elapsedMs: number
  /** every byte the server sent, as latin1 (with `untilClosed`, every response on the connection) */
  received: string
}

function parse (buffer: Buffer): { status: number, headers: Record<string, string>, head: string, body: Buffer, complete: boolean } | null {
  const end = buffer.indexOf('\r\n\r\n')
  if (end < 0) return null
  const head = buffer.subarray(0, end).toString('latin1')
  const [statusLine, ...lines] = head.split('\r\n')
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0)
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
  }
  let body = buffer.subarray(end + 4)
  let complete = false
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length'])
    complete = body.length >= length
    body = body.subarray(0, length)
  } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const chunks: Buffer[] = []
    let offset = 0
    for (;;) {
      const lineEnd = body.indexOf('\r\n', offset)
      if (lineEnd < 0) break
      const size = parseInt(body.subarray(offset, lineEnd).toString('latin1'), 16)
      if (size === 0) {
        complete = true
        break
      }
      chunks.push(body.subarray(lineEnd + 2, lineEnd + 2 + size))
      offset = lineEnd + 2 + size + 2
    }
    body = Buffer.concat(chunks)
  } else if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
    complete = true
  }
  return { status, headers, head, body, complete }
}

/**
 * Writes `data` to a new connection, then reads one response: resolves when it is complete, when
 * the server closes the connection, or after `limitMs`, whichever comes first. With `untilClosed`,
 * reads on after the first response until the server closes the connection (or `limitMs`).
 */
export function rawRequest (port: number, data: string | Buffer, { limitMs = 5000, untilClosed = false } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    const received: Buffer[] = []
    const started = Date.now()
    let settled = false
    const finish = (closed: boolean, timedOut: boolean): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      const all = Buffer.concat(received)
      const parsed = parse(all)
      socket.destroy()
      resolve({
        status: parsed?.status ?? 0,
        headers: parsed?.headers ?? {},
        head: parsed?.head ?? '',
        body: parsed?.body.toString('utf8') ?? '',
        closed,
        timedOut,
        elapsedMs: Date.now() - started,
        received: all.toString('latin1')
      })
    }
    const timer = setTimeout(() => finish(false, true), limitMs)
    socket.on('data', (data) => {
      received.push(data)
      if (!untilClosed && parse(Buffer.concat(received))?.complete === true) finish(false, false)
    })
    socket.on('end', () => finish(true, false))
    socket.on('close', () => finish(true, false))
    socket.on('error', (err) => {
      if (received.length > 0) finish(true, false)
      else if (!settled) { settled = true; clearTimeout(timer); reject(err) }
    })
    socket.on('connect', () => { socket.write(data) })
  })
}
