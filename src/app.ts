import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import Fastify, { LogController } from 'fastify'
import fp from 'fastify-plugin'
import formbody from '@fastify/formbody'
import { randomUUID } from 'node:crypto'
import type { LoggerOptions } from 'pino'
import type { Config } from './config'
import autoload from '@fastify/autoload'
import path from 'node:path'
import config from '../plugins/config'
import clock, { type Clock } from '../plugins/clock'
import errorHandler from '../plugins/error-handler'
import openapi from '../plugins/openapi'
import db from '../plugins/db'
import redis from '../plugins/redis'
import usersStore from '../plugins/stores/users'
import sessionsStore from '../plugins/stores/sessions'
import signingKeysStore from '../plugins/stores/signing-keys'
import stateChangesStore from '../plugins/stores/state-changes'
import loginEvents from '../plugins/login-events'
import propagation from '../plugins/propagation'
import propagationPoll from '../plugins/propagation-poll'
import propagationRedis from '../plugins/propagation-redis'
import notifier from '../plugins/notifier'
import passwords from '../plugins/passwords'
import tokens from '../plugins/tokens'
import accountState from '../plugins/account-state'
import authenticate from '../plugins/authenticate'
import profiles from '../plugins/accounts/profiles'
import registration from '../plugins/accounts/registration'
import logins from '../plugins/accounts/login'
import administration from '../plugins/accounts/administration'
import firstAdmin from '../plugins/accounts/first-admin'
import sessionLifecycle from '../plugins/accounts/sessions'

export interface AppOptions {
  config: Config
  /** The MongoDB connection string to use (the configured one, or the embedded server's). */
  mongodbUri: string
  /** The clock of the session lifecycle (tests move it); the system clock by default. */
  clock?: Clock
}

/** Values that must never reach a log line. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'password', '*.password', 'new_password', '*.new_password', 'current_password', '*.current_password',
  'token', '*.token', 'access_token', '*.access_token', 'refresh_token', '*.refresh_token'
]

/** pino options: the configured level, secrets redacted. */
export function loggerOptions (cfg: Config): LoggerOptions {
  return { level: cfg.logLevel, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }
}

/** Fastify server options for Warden: logger, proxy trust, request ids. */
export function serverOptions (cfg: Config): FastifyServerOptions {
  return {
    logger: loggerOptions(cfg),
    // Per-request lines cost more than the authentication itself on the forward-auth path;
    // they are kept for debug and trace.
    logController: new LogController({ disableRequestLogging: cfg.logLevel !== 'debug' && cfg.logLevel !== 'trace' }),
    // Fastify accepts a hop count at run time; its type declaration omits it.
    trustProxy: cfg.trustProxy as boolean | string[],
    genReqId: () => randomUUID(),
    bodyLimit: 64 * 1024,
    // Account state is loaded from the journal at start: a large one takes longer than
    // Fastify's default 10 s on FerretDB, which scans (110,000 entries: 15 to 40 s here).
    pluginTimeout: 120_000,
    ajv: { customOptions: { removeAdditional: true, coerceTypes: 'array', useDefaults: true } }
  }
}

/**
 * Warden as a Fastify plugin: infrastructure first (config, errors, OpenAPI, database),
 * then the service plugins, then the routes that compose them. It never listens.
 */
export default async function app (fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  // infrastructure
  await fastify.register(config, { config: opts.config })
  await fastify.register(clock, { clock: opts.clock })
  await fastify.register(errorHandler)
  await fastify.register(openapi)
  await fastify.register(formbody)
  await fastify.register(db, { uri: opts.mongodbUri })
  await fastify.register(redis)
  // stores: the only code that touches each collection
  await fastify.register(usersStore)
  await fastify.register(sessionsStore)
  await fastify.register(signingKeysStore)
  await fastify.register(stateChangesStore)
  await fastify.register(loginEvents)
  // services
  await fastify.register(propagation)
  // before account-state: the poll's cursor is taken before the journal is loaded
  await fastify.register(propagationPoll)
  await fastify.register(propagationRedis)
  await fastify.register(notifier)
  await fastify.register(passwords)
  await fastify.register(tokens)
  await fastify.register(accountState)
  await fastify.register(authenticate)
  await fastify.register(profiles)
  await fastify.register(registration)
  await fastify.register(logins)
  await fastify.register(administration)
  await fastify.register(firstAdmin)
  await fastify.register(sessionLifecycle)

  // routes: one folder per resource; routes/autohooks.ts gives every route the guard it declares
  await fastify.register(autoload, {
    dir: path.join(__dirname, '..', 'routes'),
    dirNameRoutePrefix: false,
    autoHooks: true,
    cascadeHooks: true,
    ignorePattern: /\.d\.ts$/
  })
}

/** A ready-to-use instance (tests, CLI, server). The caller closes it. */
export async function buildApp (opts: AppOptions, overrides: FastifyServerOptions = {}): Promise<FastifyInstance> {
  const fastify = Fastify({ ...serverOptions(opts.config), ...overrides })
  // Not encapsulated: the caller sees the decorators (db, tokens, accounts...).
  await fastify.register(fp(app, { name: 'warden' }), opts)
  await fastify.ready()
  return fastify
}
