/** A route option that takes one hook or a list of them (`onRequest`, `preValidation`, ...) as a list. */
export function hookList<T> (hooks: T | T[] | undefined): T[] {
  if (hooks === undefined) return []
  return Array.isArray(hooks) ? hooks : [hooks]
}
