import type { Scenario } from '../lib/scenario'
import { protectedRouteScenario } from '../lib/protected-route'

/**
 * The forward-auth hot path: GET /auth/verify with a valid bearer token, answered from
 * memory (token cache and account state). Ratio: Warden req/s ÷ reference req/s.
 */
export default function verify (): Scenario {
  return protectedRouteScenario({
    name: 'verify',
    title: 'verify: GET /auth/verify',
    description: 'GET /auth/verify with a valid RS256 access token (204 + X-Auth-* headers), the forward-auth hot path. Figure: req/s ÷ reference req/s of the same round.',
    path: '/auth/verify',
    status: 204,
    minRatio: 0.90
  })
}
