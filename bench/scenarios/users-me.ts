import type { Scenario } from '../lib/scenario'
import { protectedRouteScenario } from '../lib/protected-route'

/**
 * A protected route: GET /users/me with a valid bearer token; the profile comes from
 * Warden's in-memory cache (re-read from the database when the entry is older than its TTL).
 * Ratio: Warden req/s ÷ reference req/s.
 */
export default function usersMe (): Scenario {
  return protectedRouteScenario({
    name: 'users-me',
    title: 'protected route: GET /users/me',
    description: 'GET /users/me with a valid access token: authentication hook, profile from the in-memory cache, JSON response through its schema. Figure: req/s ÷ reference req/s of the same round.',
    path: '/users/me',
    status: 200,
    minRatio: 0.80
  })
}
