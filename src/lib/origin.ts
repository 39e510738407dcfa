import { randomUUID } from 'node:crypto'

/** Where an account action comes from: stored with sessions and login events. */
export interface Origin {
  ip: string
  userAgent: string | null
  requestId: string
}

const MAX_USER_AGENT = 512

interface RequestLike {
  ip: string
  id: string
  headers: { 'user-agent'?: string | string[] }
}

export function originOf (request: RequestLike): Origin {
  const userAgent = request.headers['user-agent']
  return {
    ip: request.ip,
    userAgent: typeof userAgent === 'string' ? userAgent.slice(0, MAX_USER_AGENT) : null,
    requestId: request.id
  }
}

/** Actions taken by Warden itself or its CLI on this machine, not through HTTP. */
export function localOrigin (what: string): Origin {
  return { ip: '127.0.0.1', userAgent: what, requestId: randomUUID() }
}
