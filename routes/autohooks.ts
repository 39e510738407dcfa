import type { FastifyInstance, RouteOptions } from 'fastify'
import '../plugins/authenticate'
import { hookList } from '../src/lib/route-hooks'

/**
 * Every route under routes/ declares who may call it in `config.auth`, and gets its guard from
 * that declaration: `false` public, `true` the `authenticate` hook, `{ roles, permissions }` the
 * hook then the `authorize` check. A route that declares nothing stops the app from starting,
 * so nothing becomes public by accident.
 */
export default async function routeAuth (fastify: FastifyInstance): Promise<void> {
  fastify.addHook('onRoute', (route: RouteOptions) => {
    const auth = route.config?.auth
    if (auth === undefined) {
      throw new Error(`${String(route.method)} ${route.url} declares no config.auth: false (public), true (signed in) or { roles, permissions }`)
    }
    if (auth === false) return
    const guard = auth === true ? [fastify.authenticate] : [fastify.authenticate, fastify.authorize(auth)]
    const own = hookList(route.onRequest)
    route.onRequest = [...guard, ...own]
  })
}
