/** Shared by the bench's own server children: stop cleanly on SIGTERM/SIGINT, and never outlive the runner. */
export function bindLifecycle (close: () => Promise<unknown>): void {
  let closing = false
  const stop = (): void => {
    if (closing) return
    closing = true
    const force = setTimeout(() => { process.exit(0) }, 2000)
    force.unref()
    close().then(() => { process.exit(0) }, () => { process.exit(1) })
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  // Reparented (the runner died without cleaning up): exit too.
  const parent = process.ppid
  setInterval(() => { if (process.ppid !== parent) stop() }, 1000).unref()
}

/** HOST and PORT from the environment; only loopback hosts are accepted. */
export function listenAddress (): { host: string, port: number } {
  const host = process.env.HOST ?? '127.0.0.1'
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '::1') throw new Error(`bench servers listen on loopback only (HOST=${host})`)
  const port = Number(process.env.PORT ?? '0')
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid PORT ${String(process.env.PORT)}`)
  return { host, port }
}
