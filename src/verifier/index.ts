/**
 * `warden/verifier`: Warden's token checks for the services that rely on its tokens.
 * `createVerifier` for any Node service, `wardenVerifier` as a Fastify plugin.
 */
export { createVerifier, VerifierError } from './verifier'
export type { Verifier, VerifierErrorCode, VerifierLogger, VerifierOptions, VerifierStatus } from './verifier'
export type { AccessClaims } from '../lib/access-claims'
export { default as wardenVerifier } from './fastify'
