import type { FastifyHttpOptions, FastifyInstance, FastifyServerOptions } from 'fastify'
import type { Server } from 'node:http'
import Fastify, { LogController } from 'fastify'
import fp from 'fastify-plugin'
import AjvCompiler, { type BuildCompilerFromPool } from '@fastify/ajv-compiler'
import cookie from '@fastify/cookie'
import { randomUUID } from 'node:crypto'
import type { LoggerOptions } from 'pino'
import type { Config } from './config'
import autoload from '@fastify/autoload'
import path from 'node:path'
import config from '../plugins/config'
import clock, { type Clock } from '../plugins/clock'
import metrics from '../plugins/metrics'
import loadShedding from '../plugins/load-shedding'
import errorHandler, { clientErrorHandler, frameworkErrors } from '../plugins/error-handler'
import openapi from '../plugins/openapi'
import { BODY_LIMIT } from './schemas/common'
import requestInput from '../plugins/request-input'
import db from '../plugins/db'
import redis from '../plugins/redis'
import rateLimits from '../plugins/rate-limit'
import usersStore from '../plugins/stores/users'
import sessionsStore from '../plugins/stores/sessions'
import signingKeysStore from '../plugins/stores/signing-keys'
import serviceClientsStore from '../plugins/stores/service-clients'
import stateChangesStore from '../plugins/stores/state-changes'
import devicesStore from '../plugins/stores/devices'
import unlockTokensStore from '../plugins/stores/unlock-tokens'
import migrationsStore from '../plugins/stores/migrations'
import loginEvents from '../plugins/login-events'
import propagation from '../plugins/propagation'
import propagationPoll from '../plugins/propagation-poll'
import propagationRedis from '../plugins/propagation-redis'
import notifier from '../plugins/notifier'
import passwords from '../plugins/passwords'
import keys from '../plugins/keys'
import tokens from '../plugins/tokens'
import accountState from '../plugins/account-state'
import throttle from '../plugins/throttle'
import lockout from '../plugins/lockout'
import authenticate from '../plugins/authenticate'
import profiles from '../plugins/accounts/profiles'
import registration from '../plugins/accounts/registration'
import logins from '../plugins/accounts/login'
import administration from '../plugins/accounts/administration'
import firstAdmin from '../plugins/accounts/first-admin'
import selfServiceUnlock from '../plugins/accounts/unlock'
import sessionLifecycle from '../plugins/accounts/sessions'
import clients from '../plugins/clients'
import oauth from '../plugins/oauth'
import revocationFeed from '../plugins/revocation-feed'
import { addFormArrays } from './lib/form-arrays'

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
  'token', '*.token', 'access_token', '*.access_token', 'refresh_token', '*.refresh_token',
  'device_token', '*.device_token'
]

/** pino options: the configured level, secrets redacted. */
export function loggerOptions (cfg: Config): LoggerOptions {
  return { level: cfg.logLevel, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }
}

/**
 * Ajv options by request part. Bodies are taken exactly as the OpenAPI document describes them:
 * `["alice"]`, `true` or `123` is not a string. Query strings, path parameters and headers
 * arrive as text, so there numbers and booleans are read from their text (and a single value
 * may stand for a one-item array).
 */
const BODY_AJV_OPTIONS = { removeAdditional: true, useDefaults: true, coerceTypes: false } as const
const TEXT_AJV_OPTIONS = { removeAdditional: true, useDefaults: true, coerceTypes: 'array' } as const

/**
 * Fastify's own Ajv compiler, twice: strict for bodies, coercing for the other request parts.
 * (Fastify calls the compiler with the route's `{schema, httpPart, ...}`; the type says schema.)
 */
const buildValidator: BuildCompilerFromPool = (externalSchemas) => {
  const factory = AjvCompiler()
  const body = factory(externalSchemas, { customOptions: BODY_AJV_OPTIONS })
  const text = factory(externalSchemas, { customOptions: TEXT_AJV_OPTIONS })
  return (route) => ((route as { httpPart?: string }).httpPart === 'body' ? body : text)(route)
}

/** Fastify server options for Warden: logger, proxy trust, request ids. */
export function serverOptions (cfg: Config): FastifyHttpOptions<Server> {
  return {
    logger: loggerOptions(cfg),
    // Per-request lines cost more than the authentication itself on the forward-auth path;
    // they are kept for debug and trace.
    logController: new LogController({ disableRequestLogging: cfg.logLevel !== 'debug' && cfg.logLevel !== 'trace' }),
    // Fastify accepts a hop count at run time; its type declaration omits it.
    trustProxy: cfg.trustProxy as boolean | string[],
    genReqId: () => randomUUID(),
    // A request that arrives while the server closes is answered 503 in the contract's shape by
    // the load-shedding plugin; Fastify's own answer would have another body.
    return503OnClosing: false,
    // Longer than any parameter a route schema admits, percent-encoded: a parameter too long is then
    // the schema's 400 validation_error, not the router's undocumented 414.
    routerOptions: { maxParamLength: 1024 },
    bodyLimit: BODY_LIMIT,
    // The first start on an existing, large database builds the new indexes before serving.
    pluginTimeout: 120_000,
    // A client that is slow to send its request (a slowloris, a body shorter than its
    // Content-Length) is answered 408 after REQUEST_TIMEOUT, headers and body alike; Node checks
    // the connections once a second, so the answer comes at most a second later.
    requestTimeout: cfg.requestTimeout * 1000,
    keepAliveTimeout: cfg.keepAliveTimeout * 1000,
    http: {
      headersTimeout: cfg.requestTimeout * 1000,
      connectionsCheckingInterval: Math.min(1000, cfg.requestTimeout * 1000),
      // Checked by the error-handler plugin, which answers in the contract shape.
      requireHostHeader: false
    },
    // Errors met before a route answers in the contract shape too.
    clientErrorHandler,
    frameworkErrors,
    schemaController: { compilersFactory: { buildValidator } }
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
  // The registry before every plugin that declares metrics on it, and before any route (each
  // route's requests are counted by a hook given to it as it is added).
  await fastify.register(metrics)
  // Shedding before any other work on a request: while overloaded, refusing is the cheapest answer.
  await fastify.register(loadShedding)
  // Rate limits next: their onRequest hook counts every request, unknown paths included, before
  // the error handler's early answers (404, bad Host).
  await fastify.register(redis)
  await fastify.register(rateLimits)
  await fastify.register(errorHandler)
  await fastify.register(openapi)
  // Bodies are JSON or form-encoded, in UTF-8, without reserved or bracket names (and query strings the same).
  await fastify.register(requestInput)
  // A form-encoded array of one item is one key: it reaches validation as that array (a hook on
  // the routes whose body has an array, not on every request).
  fastify.addHook('onRoute', addFormArrays)
  await fastify.register(cookie)
  await fastify.register(db, { uri: opts.mongodbUri })
  // stores: the only code that touches each collection
  await fastify.register(usersStore)
  await fastify.register(sessionsStore)
  await fastify.register(signingKeysStore)
  await fastify.register(serviceClientsStore)
  await fastify.register(stateChangesStore)
  await fastify.register(devicesStore)
  await fastify.register(unlockTokensStore)
  await fastify.register(migrationsStore)
  await fastify.register(loginEvents)
  // services
  await fastify.register(propagation)
  // before account-state: the poll's cursor is taken before the journal is loaded
  await fastify.register(propagationPoll)
  await fastify.register(propagationRedis)
  await fastify.register(notifier)
  await fastify.register(passwords)
  await fastify.register(keys)
  await fastify.register(tokens)
  await fastify.register(accountState)
  await fastify.register(throttle)
  await fastify.register(lockout)
  await fastify.register(authenticate)
  await fastify.register(profiles)
  await fastify.register(registration)
  await fastify.register(logins)
  await fastify.register(administration)
  await fastify.register(firstAdmin)
  await fastify.register(selfServiceUnlock)
  await fastify.register(sessionLifecycle)
  await fastify.register(clients)
  await fastify.register(oauth)
  await fastify.register(revocationFeed)

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
  try {
    await fastify.register(fp(app, { name: 'warden' }), opts)
    await fastify.ready()
  } catch (err) {
    // A plugin that failed at start (a bad first admin...) must not leave the database connection open.
    await fastify.close().catch(() => {})
    throw err
  }
  return fastify
}
