import { spawn } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import type { Readable } from 'node:stream'
import t from 'tap'
import { main, UsageError } from '../../../src/lib/embedded-db/cli'
import { isAlive } from '../../../src/lib/embedded-db/process'

const cli = path.resolve(__dirname, '../../../src/lib/embedded-db/cli.ts')

/** Runs the command-line entry point as a shell script would; resolves with its exit status and output. */
async function run (...args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [...process.execArgv, cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  ;(child.stdout as Readable).setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  ;(child.stderr as Readable).setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const [code] = await once(child, 'exit') as [number | null]
  return { code, stdout, stderr }
}

t.test('run as a script: free-port prints a port number', async (t) => {
  const { code, stdout } = await run('free-port')
  t.equal(code, 0)
  t.match(stdout, /^\d{2,5}\n$/)
})

t.test('exited and stop (in this process)', async (t) => {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
  t.teardown(() => { child.kill('SIGKILL') })
  await once(child, 'spawn')
  const pid = String(child.pid)
  t.equal(await main(['exited', pid]), 1, 'a running process has not exited')
  const exit = once(child, 'exit')
  t.equal(await main(['stop', pid, '5000']), 0)
  const [, signal] = await exit
  t.equal(signal, 'SIGTERM', 'stopped with SIGTERM')
  t.notOk(isAlive(child.pid as number))
  t.equal(await main(['exited', pid, '1000']), 0, 'a stopped process has exited')
})

t.test('usage errors', async (t) => {
  for (const args of [[], ['nonsense'], ['stop'], ['stop', 'abc'], ['exited', '1', '-5'], ['start'], ['start', 'a', 'b']]) {
    await t.rejects(main(args), UsageError, args.join(' ') || '(no arguments)')
  }
  const { code, stderr } = await run('stop', 'abc')
  t.equal(code, 2, 'exit with status 2')
  t.match(stderr, /not a process id: abc\n\nUsage: node dist\/src\/lib\/embedded-db\/cli\.js <command>/, 'and print the usage')
})
