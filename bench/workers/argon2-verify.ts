/**
 * The login reference: bare argon2.verify with Warden's parameters, in a process of its own.
 * It times `iterations` sequential verifies (one at a time, like a login at concurrency 1),
 * then `parallelOps` verifies kept `concurrency` at a time (like logins at 2×cores), and
 * sends the figures to the runner over IPC.
 *
 * Usage: node argon2-verify.js <iterations> <concurrency> <parallelOps>
 */
import argon2 from 'argon2'
import { randomBytes } from 'node:crypto'
import { loadConfig } from '../../src/config'

export interface Argon2Figures {
  params: { memoryCost: number, timeCost: number, parallelism: number }
  /** milliseconds of each sequential verify */
  sequentialMs: number[]
  parallel: { concurrency: number, ops: number, seconds: number }
}

async function main (): Promise<void> {
  const [iterations = 50, concurrency = 4, parallelOps = 40] = process.argv.slice(2).map(Number)
  const params = loadConfig(process.env).argon2
  const password = `bench-pass-${randomBytes(9).toString('base64url')}`
  const hash = await argon2.hash(password, { type: argon2.argon2id, ...params })

  for (let i = 0; i < 3; i++) await argon2.verify(hash, password)

  const sequentialMs: number[] = []
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now()
    const ok = await argon2.verify(hash, password)
    sequentialMs.push(performance.now() - t0)
    if (!ok) throw new Error('argon2.verify returned false')
  }

  let started = 0
  const t0 = performance.now()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (started < parallelOps) {
      started++
      await argon2.verify(hash, password)
    }
  }))
  const seconds = (performance.now() - t0) / 1000

  const figures: Argon2Figures = { params, sequentialMs, parallel: { concurrency, ops: parallelOps, seconds } }
  if (process.send === undefined) {
    process.stdout.write(JSON.stringify(figures) + '\n')
  } else {
    process.send(figures, () => { process.disconnect() })
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`argon2-verify: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
