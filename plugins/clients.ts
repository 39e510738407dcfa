import fp from 'fastify-plugin'
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { errors } from '../src/errors'
import { isBasic, parseBasic } from '../src/lib/basic-auth'
import { repeatsHeader } from '../src/lib/raw-headers'
import type { ServiceClientRecord } from './stores/service-clients'
import './stores/service-clients'

/** What `warden client create` prints, once: the secret is not stored and cannot be shown again. */
export interface NewClient {
  client_id: string
  client_secret: string
}

export interface ClientInfo {
  client_id: string
  name: string
  created_at: string
}

export interface Clients {
  /** Makes a client with a random 256-bit secret; throws ClientNameTaken or ValidationError. */
  create(name: string): Promise<NewClient>
  list(): Promise<ClientInfo[]>
  /** False when there is no such client. */
  remove(id: string): Promise<boolean>
  /** The client these credentials belong to, or null (the secret is compared in constant time). */
  verify(id: string, secret: string): Promise<ServiceClientRecord | null>
}

export type ClientHook = (request: FastifyRequest) => Promise<void>

declare module 'fastify' {
  interface FastifyInstance {
    clients: Clients
    /** onRequest hook: HTTP Basic client credentials (RFC 6749 2.3.1), or 401 invalid_client with a Basic challenge. */
    authenticateClient: ClientHook
    /** onRequest hook: the same when Basic credentials (or two Authorization headers) are presented; a request without them goes on with `request.client` null. */
    authenticateClientIfPresent: ClientHook
  }
  interface FastifyRequest {
    /** The service client that authenticated the request, set by the client hooks; null otherwise. */
    client: { id: string, name: string } | null
  }
}

const NAME = /^[^\p{Cc}]{1,100}$/u
const MAX_ID_LENGTH = 256

function sha256 (value: string): Buffer {
  return createHash('sha256').update(value).digest()
}

/** Compared against when the client id is unknown, so that both cases do the same work. */
const UNKNOWN = sha256(randomBytes(32).toString('base64url'))

/** Service clients (store, creation, authentication of their requests). */
async function clients (fastify: FastifyInstance): Promise<void> {
  const store = fastify.serviceClients

  async function verify (id: string, secret: string): Promise<ServiceClientRecord | null> {
    if (id.length > MAX_ID_LENGTH) return null
    const record = await store.findById(id)
    const expected = record === null ? UNKNOWN : Buffer.from(record.secretHash, 'base64url')
    const presented = sha256(secret)
    const equal = expected.length === presented.length && timingSafeEqual(expected, presented)
    return record !== null && equal ? record : null
  }

  async function authenticateClient (request: FastifyRequest): Promise<void> {
    // Node keeps the first of two Authorization headers; a server before Warden may have read the other.
    if (repeatsHeader(request.raw.rawHeaders, 'authorization')) throw new errors.InvalidClient()
    const credentials = parseBasic(request.headers.authorization)
    const client = credentials === null ? null : await verify(credentials.id, credentials.secret)
    if (client === null) throw new errors.InvalidClient()
    request.client = { id: client.id, name: client.name }
  }

  fastify.decorateRequest('client', null)
  fastify.decorate('authenticateClient', authenticateClient)
  fastify.decorate('authenticateClientIfPresent', async function (request: FastifyRequest) {
    const header = request.headers.authorization
    // Two Authorization headers, whatever their schemes, are ambiguous credentials.
    if (isBasic(header) || (header !== undefined && repeatsHeader(request.raw.rawHeaders, 'authorization'))) await authenticateClient(request)
  })
  fastify.decorate('clients', {
    async create (name: string) {
      const trimmed = name.trim()
      if (!NAME.test(trimmed)) throw new errors.ValidationError('A client name is 1 to 100 characters, without control characters')
      // hex: an id never starts with '-', which a command line would take for an option
      const id = randomBytes(16).toString('hex')
      const secret = randomBytes(32).toString('base64url')
      const stored = await store.insert({ id, name: trimmed, secretHash: sha256(secret).toString('base64url') })
      if (stored === false) throw new errors.ClientNameTaken(trimmed)
      return { client_id: id, client_secret: secret }
    },
    async list () {
      return (await store.list()).map((c) => ({ client_id: c.id, name: c.name, created_at: c.createdAt.toISOString() }))
    },
    remove: (id: string) => store.remove(id),
    verify
  } satisfies Clients)
}

export default fp(clients, { name: 'clients', fastify: '5.x', dependencies: ['service-clients-store'] })
