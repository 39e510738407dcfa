import t from 'tap'
import {
  blockLength, enterGate, lockEnd, lockSchedule, retryAfterSeconds, throttleSchedule, FOREVER,
  type GateRule, type GateState
} from '../../src/lib/lockout'

const MIN = 60_000

t.test('automatic locks double from LOCKOUT_DURATION up to LOCKOUT_MAX_DURATION', async (t) => {
  const policy = { threshold: 10, durationMs: 15 * MIN, maxDurationMs: 24 * 60 * MIN }
  const schedule = lockSchedule(policy)
  t.same([1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => blockLength(schedule, n) / MIN), [15, 30, 60, 120, 240, 480, 960, 1440, 1440])
  t.equal(lockEnd(policy, 2, 1000), 1000 + 30 * MIN)
})

t.test('LOCKOUT_MAX_TEMPORARY temporary locks, then a permanent one', async (t) => {
  const schedule = lockSchedule({ threshold: 3, durationMs: MIN, maxDurationMs: 4 * MIN, maxTemporary: 5 })
  t.same([1, 2, 3, 4, 5, 6, 7].map((n) => blockLength(schedule, n)), [MIN, 2 * MIN, 4 * MIN, 4 * MIN, 4 * MIN, FOREVER, FOREVER])
  const early = lockSchedule({ threshold: 3, durationMs: MIN, maxDurationMs: 60 * MIN, maxTemporary: 1 })
  t.same([blockLength(early, 1), blockLength(early, 2)], [MIN, FOREVER], 'permanent before the cap is reached')
})

t.test('throttle delays double with each further failure up to the cap', async (t) => {
  const schedule = throttleSchedule({ threshold: 5, windowMs: 15 * MIN, delayMs: 30_000, maxDelayMs: 5 * MIN })
  t.same([1, 2, 3, 4, 5, 6].map((n) => blockLength(schedule, n) / 1000), [30, 60, 120, 240, 300, 300])
})

function run (rule: GateRule, steps: Array<[number, 'attempt' | 'success']>) {
  let state: GateState | undefined
  return steps.map(([now, what]) => {
    if (what === 'success') {
      state = undefined
      return 'cleared'
    }
    const verdict = enterGate(rule, state, now)
    state = verdict.state
    return verdict.allowed ? 'in' : `wait ${verdict.retryAfterMs}`
  })
}

t.test('a throttle gate: the threshold-th attempt is let in and blocks the next ones, each further one blocks longer', async (t) => {
  const rule: GateRule = { threshold: 3, schedule: [1000, 2000, 4000], restartAfterBlock: false, memoryMs: 60_000 }
  t.same(run(rule, [[0, 'attempt'], [1, 'attempt'], [2, 'attempt'], [3, 'attempt'], [500, 'attempt'], [1002, 'attempt'], [1003, 'attempt'], [3002, 'attempt']]),
    ['in', 'in', 'in', 'wait 999', 'wait 502', 'in', 'wait 1999', 'in'],
    'refused attempts are not counted; once a block ends one attempt is let in, and blocks for twice as long')
  t.same(run(rule, [[0, 'attempt'], [1, 'attempt'], [2, 'success'], [3, 'attempt'], [4, 'attempt'], [5, 'attempt']]),
    ['in', 'in', 'cleared', 'in', 'in', 'in'], 'a success starts the count over')
})

t.test('a lock gate: after a block the count starts over, and the next block is longer', async (t) => {
  const rule: GateRule = { threshold: 2, schedule: [1000, 2000, FOREVER], restartAfterBlock: true, memoryMs: 60_000 }
  t.same(run(rule, [[0, 'attempt'], [1, 'attempt'], [2, 'attempt'], [1001, 'attempt'], [1002, 'attempt'], [1003, 'attempt'], [3002, 'attempt'], [3003, 'attempt'], [9e12, 'attempt']]),
    ['in', 'in', 'wait 999', 'in', 'in', 'wait 1999', 'in', 'in', `wait ${FOREVER}`])
})

t.test('the gate is remembered for memoryMs after its last attempt or block', async (t) => {
  const rule: GateRule = { threshold: 3, schedule: [1000], restartAfterBlock: false, memoryMs: 5000 }
  t.equal(enterGate(rule, undefined, 100).expiresAt, 5100)
  const blocked = enterGate(rule, { attempts: 2, blocks: 0, until: 0 }, 100)
  t.equal(blocked.expiresAt, 100 + 1000 + 5000)
})

t.test('Retry-After is whole seconds, at least 1; none for a permanent block', async (t) => {
  t.equal(retryAfterSeconds(1), 1)
  t.equal(retryAfterSeconds(1500), 2)
  t.equal(retryAfterSeconds(30_000), 30)
  t.equal(retryAfterSeconds(FOREVER), undefined)
})
