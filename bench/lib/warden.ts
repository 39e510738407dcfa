/** Small HTTP helpers to prepare a Warden child for a scenario: accounts, tokens, keys. */
import { randomBytes } from 'node:crypto'
import type { JsonWebKey } from 'node:crypto'
import { request } from './processes'

export interface Account {
  username: string
  password: string
}

/** A fresh username and a password that passes the policy (8+ characters, not common). */
export function newAccount (prefix = 'bench'): Account {
  const id = randomBytes(6).toString('hex')
  return { username: `${prefix}-${id}`, password: `bench-pass-${randomBytes(9).toString('base64url')}` }
}

export async function register (url: string, account: Account): Promise<void> {
  const res = await request(`${url}/auth/register`, { method: 'POST', body: account, timeoutMs: 30_000 })
  if (res.status !== 201) throw new Error(`POST /auth/register answered ${res.status}: ${res.body.slice(0, 300)}`)
}

export interface LoginAnswer {
  access_token: string
  token_type: string
  expires_in: number
  refresh_token: string
}

export async function login (url: string, account: Account): Promise<LoginAnswer> {
  const res = await request(`${url}/auth/login`, { method: 'POST', body: account, timeoutMs: 30_000 })
  if (res.status !== 200) throw new Error(`POST /auth/login answered ${res.status}: ${res.body.slice(0, 300)}`)
  return JSON.parse(res.body) as LoginAnswer
}

/** Registers a new account and returns it with a fresh access token. */
export async function accountWithToken (url: string, prefix?: string): Promise<Account & { token: string }> {
  const account = newAccount(prefix)
  await register(url, account)
  const answer = await login(url, account)
  return { ...account, token: answer.access_token }
}

export interface Jwk extends JsonWebKey {
  kty: string
  kid: string
  alg: string
}

export async function jwks (url: string): Promise<Jwk[]> {
  const res = await request(`${url}/.well-known/jwks.json`)
  if (res.status !== 200) throw new Error(`GET /.well-known/jwks.json answered ${res.status}`)
  return (JSON.parse(res.body) as { keys: Jwk[] }).keys
}

/** Fails unless one request with `headers` gets `status`: a scenario must not measure error answers. */
export async function expectStatus (url: string, status: number, headers: Record<string, string> = {}): Promise<void> {
  const res = await request(url, { headers })
  if (res.status !== status) throw new Error(`GET ${url} answered ${res.status}, expected ${status}: ${res.body.slice(0, 300)}`)
}

/** One POST /auth/login request per account, for autocannon to cycle through. */
export function loginRequests (accounts: Account[]) {
  return accounts.map((a) => ({
    method: 'POST' as const,
    path: '/auth/login',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: a.username, password: a.password })
  }))
}
