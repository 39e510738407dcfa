import type { FastifyInstance, InjectOptions } from 'fastify'
import { build, login, bearer, PASSWORD, type Teardown } from './helper'

/** The first admin of `buildWithAdmin`, created at start by ADMIN_USERNAME / ADMIN_PASSWORD. */
export const ROOT = { username: 'root', password: 'a long admin passphrase' }

/** A Warden whose first admin exists and is signed in. */
export async function buildWithAdmin (t: Teardown, env: Record<string, string> = {}) {
  const app = await build(t, { ADMIN_USERNAME: ROOT.username, ADMIN_PASSWORD: ROOT.password, ...env })
  const tokens = await login(app, ROOT.username, ROOT.password)
  const record = await app.users.findByUsernameKey(ROOT.username)
  if (record === null) throw new Error('no first admin')
  return { app, admin: { id: record.id, token: tokens.access_token } }
}

/** `app.inject` with a bearer token. */
export function as (app: FastifyInstance, token: string) {
  return (options: InjectOptions) => app.inject({ ...options, headers: { ...options.headers, ...bearer(token) } })
}

/** Creates an account through the admin API; returns its id. */
export async function createUser (app: FastifyInstance, adminToken: string, username: string, roles?: string[]): Promise<string> {
  const res = await as(app, adminToken)({ method: 'POST', url: '/admin/users', payload: { username, password: PASSWORD, roles } })
  if (res.statusCode !== 201) throw new Error(`create failed: ${res.statusCode} ${res.body}`)
  return res.json<{ id: string }>().id
}
