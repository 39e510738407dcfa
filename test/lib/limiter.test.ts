import t from 'tap'
import { createLimiter } from '../../src/lib/limiter'

t.test('never runs more than the limit at once, and runs everything in order', async (t) => {
  const run = createLimiter(2)
  let active = 0
  let peak = 0
  const started: number[] = []
  const gates: Array<() => void> = []
  const tasks = [0, 1, 2, 3, 4].map((i) => run(async () => {
    started.push(i)
    active++
    peak = Math.max(peak, active)
    await new Promise<void>((resolve) => gates.push(resolve))
    active--
    return i
  }))
  // Release the tasks one at a time, as each gate appears.
  while (started.length < 5 || gates.length > 0) {
    await new Promise((resolve) => setImmediate(resolve))
    gates.shift()?.()
  }
  t.same(await Promise.all(tasks), [0, 1, 2, 3, 4])
  t.equal(peak, 2)
  t.same(started, [0, 1, 2, 3, 4])
})

t.test('a failing task frees its slot', async (t) => {
  const run = createLimiter(1)
  await t.rejects(run(async () => { throw new Error('boom') }), /boom/)
  t.equal(await run(async () => 'next'), 'next')
})
