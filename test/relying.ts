/** A Warden listening on a port, and the verifier of a relying service pointed at it. */
import type { Test } from 'tap'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { build, eventually } from './helper'
import { createVerifier, type Verifier, type VerifierOptions } from '../src/verifier'

export interface Listening {
  app: FastifyInstance
  url: string
  client: { client_id: string, client_secret: string }
}

/** A Warden on a port of its own (the verifier reads the JWKS and the feed over HTTP), with a service client. */
export async function listening (t: Test, env: Record<string, string> = {}): Promise<Listening> {
  const app = await build(t, env)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  return { app, url, client: await app.clients.create('relying service') }
}

export function options (w: Listening, extra: Partial<VerifierOptions> = {}): VerifierOptions {
  return {
    issuer: w.app.config.jwt.issuer,
    audience: 'warden',
    jwksUri: `${w.url}/.well-known/jwks.json`,
    feed: { url: `${w.url}/oauth/revocations`, clientId: w.client.client_id, clientSecret: w.client.client_secret },
    ...extra
  }
}

export async function verifierOf (t: Test, w: Listening, extra: Partial<VerifierOptions> = {}): Promise<Verifier> {
  const verifier = createVerifier(options(w, extra))
  t.teardown(() => verifier.close())
  await verifier.ready()
  return verifier
}

/** The contract code a verification ends with: 'ok' when the token is accepted. */
export async function verdict (verifier: Verifier, token: string): Promise<string> {
  return verifier.verify(token).then(() => 'ok', (err: { code?: string }) => err.code ?? String(err))
}

/** Milliseconds until `verifier` answers `code` for `token` (fails after a second). */
export function refusedWithin (verifier: Verifier, token: string, code: string, ms = 1000): Promise<number> {
  return eventually(async () => await verdict(verifier, token) === code, ms, `${code} from the verifier`)
}

/** Reads a feed stream's events until `until` says stop; returns them. */
export async function readEvents (url: string, headers: Record<string, string>, until: (events: Array<{ event?: string, id?: string, data: unknown }>) => boolean) {
  const { createParser } = await import('eventsource-parser')
  const controller = new AbortController()
  const res = await fetch(url, { headers, signal: controller.signal })
  const events: Array<{ event?: string, id?: string, data: unknown }> = []
  const parser = createParser({ onEvent: (e) => { events.push({ event: e.event, id: e.id, data: JSON.parse(e.data) }) } })
  const decoder = new TextDecoder()
  try {
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      parser.feed(decoder.decode(chunk, { stream: true }))
      if (until(events)) break
    }
  } finally {
    controller.abort()
  }
  return { res, events }
}

