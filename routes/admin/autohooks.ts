import type { FastifyInstance, RouteOptions } from 'fastify'
import '../../plugins/authenticate'

/**
 * The admin folder carries its guard: a route under routes/admin/ must require the `admin`
 * role or an `admin:*` permission, or the app does not start. (routes/autohooks.ts then gives
 * it the authenticate and authorize hooks its declaration asks for.)
 */
export default async function adminGuard (fastify: FastifyInstance): Promise<void> {
  fastify.addHook('onRoute', (route: RouteOptions) => {
    const auth = route.config?.auth
    const admin = typeof auth === 'object' &&
      ((auth.roles ?? []).includes('admin') || (auth.permissions ?? []).some((p) => p.startsWith('admin:')))
    if (!admin) throw new Error(`${String(route.method)} ${route.url}: routes under routes/admin/ must require the admin role or an admin:* permission`)
  })
}
