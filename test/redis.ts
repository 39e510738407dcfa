/** A real redis-server on a free loopback port, for the tests that need one; stopped with the test. */
import { spawn } from 'node:child_process'
import net from 'node:net'
import { Redis } from 'ioredis'
import type { Teardown } from './helper'
import { eventually } from './brute-force'

export async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

export interface RedisServer {
  url: string
  stop(): Promise<void>
}

export async function startRedis (t: Teardown): Promise<RedisServer> {
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  let failed: Error | undefined
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve())
    child.once('error', (err) => { failed = err; resolve() })
  })
  let running = true
  const stop = async (): Promise<void> => {
    if (!running) return
    running = false
    child.kill('SIGTERM')
    await exited
  }
  t.teardown(stop)
  const url = `redis://127.0.0.1:${port}`
  await eventually(async () => {
    if (failed !== undefined) throw new Error(`redis-server could not be started: ${failed.message}`)
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    client.on('error', () => {})
    try {
      await client.connect()
      return await client.ping() === 'PONG' ? true : undefined
    } catch {
      return undefined
    } finally {
      client.disconnect()
    }
  }, 10_000, 'redis-server to answer')
  return { url, stop }
}
