import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import type { Readable, Writable } from 'node:stream'
import t from 'tap'
import {
  acceptsConnection,
  freePort,
  HOST,
  isAlive,
  logTail,
  procStat,
  spawnServer,
  terminate,
  waitUntil,
  waitUntilReady
} from '../../../src/lib/embedded-db/process'

const hasProc = fs.existsSync('/proc/self/stat')

/** A node child that ignores SIGTERM; resolves once its handler is in place. */
async function stubbornChild (): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', `
    process.on('SIGTERM', () => {})
    process.stdout.write('ready\\n')
    setInterval(() => {}, 1000)
  `], { stdio: ['ignore', 'pipe', 'inherit'] })
  const [chunk] = await once(child.stdout as Readable, 'data') as [Buffer]
  if (!chunk.toString().startsWith('ready')) throw new Error(`unexpected output ${String(chunk)}`)
  return child
}

function exitSignal (child: ChildProcess): Promise<NodeJS.Signals | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.signalCode)
  return once(child, 'exit').then(([, signal]) => signal as NodeJS.Signals | null)
}

t.test('terminate: a child that ignores SIGTERM gets SIGKILL after the grace period', async (t) => {
  const child = await stubbornChild()
  t.teardown(() => { child.kill('SIGKILL') })
  const graceMs = 300
  const started = Date.now()
  await terminate(child, graceMs)
  const elapsed = Date.now() - started
  t.equal(child.signalCode, 'SIGKILL', 'ended by SIGKILL')
  t.ok(elapsed >= graceMs - 5, `not before the grace period (${elapsed} ms)`)
  t.notOk(isAlive(child.pid as number), 'gone when terminate resolves')
})

t.test('terminate: a child that honours SIGTERM ends without waiting for the grace period', async (t) => {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
  await once(child, 'spawn')
  const started = Date.now()
  await terminate(child, 30_000)
  t.equal(child.signalCode, 'SIGTERM')
  t.ok(Date.now() - started < 30_000, 'resolved on exit')
  await terminate(child, 30_000)
  t.pass('terminating an exited child is harmless')
})

t.test('terminate by pid: SIGKILL after the grace period, then polled until gone', async (t) => {
  const child = await stubbornChild()
  t.teardown(() => { child.kill('SIGKILL') })
  const pid = child.pid as number
  const signal = exitSignal(child)
  const started = Date.now()
  await terminate(pid, 300)
  t.ok(Date.now() - started >= 295, 'waited for the grace period')
  t.notOk(isAlive(pid), 'gone when terminate resolves')
  t.equal(await signal, 'SIGKILL')
})

t.test('isAlive', async (t) => {
  t.ok(isAlive(process.pid), 'this process')
  const finished = spawn(process.execPath, ['-e', ''])
  await once(finished, 'exit')
  t.notOk(isAlive(finished.pid as number), 'an exited and reaped child')
})

t.test('isAlive: a zombie counts as gone', { skip: hasProc ? false : 'needs /proc' }, async (t) => {
  // sh starts a child that waits for fd 3 to close, then becomes cat, which never reaps it.
  const parent = spawn('sh', ['-c', 'head -c 1 <&3 >/dev/null & echo $!; exec cat'], { stdio: ['pipe', 'pipe', 'inherit', 'pipe'] })
  t.teardown(() => { parent.kill('SIGKILL') })
  const [chunk] = await once(parent.stdout as Readable, 'data') as [Buffer]
  const zombie = Number(chunk.toString().trim())
  t.ok(Number.isInteger(zombie) && zombie > 0, `pid of the child (${chunk.toString().trim()})`)
  // Let the child exit only once no shell is left to reap it.
  const command = (): string => {
    try {
      return fs.readFileSync(`/proc/${parent.pid}/comm`, 'utf8').trim()
    } catch {
      return ''
    }
  }
  await waitUntil(() => command() === 'cat', 'sh to become cat', 10_000)
  ;(parent.stdio[3] as Writable).end()
  await waitUntil(() => procStat(zombie)?.[0] === 'Z', `${zombie} to exit and stay unreaped`, 10_000)
  t.doesNotThrow(() => process.kill(zombie, 0), 'a zombie: still in the process table')
  t.notOk(isAlive(zombie), 'isAlive says it is gone')
  ;(parent.stdin as Writable).end()
  await once(parent, 'exit')
})

t.test('waitUntil resolves once the condition holds and rejects after the deadline', async (t) => {
  let calls = 0
  await waitUntil(() => ++calls >= 3, 'three calls', 5000, 1)
  t.equal(calls, 3)
  await t.rejects(waitUntil(() => false, 'nothing', 50, 10), /timed out after 0.05 s waiting for nothing/)
})

t.test('freePort and acceptsConnection', async (t) => {
  const port = await freePort()
  t.ok(port > 0 && port < 65536)
  t.notOk(await acceptsConnection(HOST, port, 1000), 'nothing listens yet')
  const server = net.createServer((socket) => { socket.end() })
  server.listen(port, HOST)
  await once(server, 'listening')
  t.ok(await acceptsConnection(HOST, port, 1000), 'the port was free to listen on, and now accepts')
  server.close()
  await once(server, 'close')
})

t.test('logTail: the last non-empty lines', async (t) => {
  const dir = t.testdir({ 'server.log': 'one\n\ntwo\nthree\n\n' })
  t.equal(logTail(path.join(dir, 'server.log'), 2), 'two\nthree')
  t.equal(logTail(path.join(dir, 'missing.log')), '', 'a missing file gives nothing')
})

t.test('waitUntilReady rejects when the server exits during start-up', async (t) => {
  const dir = t.testdir()
  const logFile = path.join(dir, 'server.log')
  const port = await freePort()
  const child = spawnServer(process.execPath, ['-e', 'console.error("no database here"); process.exit(3)'], logFile, false)
  await t.rejects(waitUntilReady(child, `mongodb://${HOST}:${port}/x`, port, 10_000), /exited during start-up \(code 3\)/)
  t.equal(logTail(logFile), 'no database here', 'its output went to the log file')
})
