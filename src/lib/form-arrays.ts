import type { FastifyRequest, RouteOptions } from 'fastify'
import { hookList } from './route-hooks'

interface BodySchema { properties?: Record<string, { type?: unknown }> }

/**
 * OpenAPI's form encoding (style form, explode true) sends an array as its key repeated, once per
 * item: a one-item array is then a single key, which the form parser gives as a string. For a
 * form-encoded body only, a property that its body schema declares `type: array` and that came as
 * one string becomes a one-item array before validation. Nothing else changes: a JSON body is
 * validated as sent, and a key the schema does not declare an array (or that it does not know,
 * such as `username[$ne]`) is left to the validator.
 */
export async function formArrays (request: FastifyRequest): Promise<void> {
  const type = request.headers['content-type']
  if (typeof type !== 'string' || type.split(';')[0].trim().toLowerCase() !== 'application/x-www-form-urlencoded') return
  const body = request.body
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return
  const properties = (request.routeOptions.schema?.body as BodySchema | undefined)?.properties
  if (properties === undefined) return
  const fields = body as Record<string, unknown>
  for (const [name, value] of Object.entries(fields)) {
    if (typeof value === 'string' && Object.hasOwn(properties, name) && properties[name].type === 'array') fields[name] = [value]
  }
}

/** Whether a route's body schema declares an array property (only such routes need `formArrays`). */
function declaresArrays (body: unknown): boolean {
  const properties = (body as BodySchema | undefined)?.properties
  return properties !== undefined && Object.values(properties).some((p) => p.type === 'array')
}

/** An onRoute hook: gives `formArrays` to the routes whose body schema has an array, and to no other. */
export function addFormArrays (route: RouteOptions): void {
  if (!declaresArrays(route.schema?.body)) return
  const own = hookList(route.preValidation)
  route.preValidation = [formArrays, ...own]
}
