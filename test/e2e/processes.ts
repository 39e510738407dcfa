import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { LOADER, ROOT } from '../servers'

export { LOADER, ROOT }

/** Runs the `warden` command from source with `args`, `env` added to this environment and `stdin` fed in. */
export async function warden (args: string[], env: Record<string, string>, stdin: string) {
  const child = spawn(process.execPath, [...LOADER, 'src/cli.ts', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c) => { stdout += c })
  child.stderr.on('data', (c) => { stderr += c })
  child.stdin.end(stdin)
  const [code] = await once(child, 'exit')
  return { code: code as number, stdout, stderr }
}

/** Resolves with the first JSON log line of `child` whose msg matches, or rejects when it exits first. */
export function waitForLog (child: ChildProcess, pattern: RegExp): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! })
    const onExit = (code: number | null) => reject(new Error(`server exited (${code}) before logging ${pattern}`))
    child.once('exit', onExit)
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line)
        if (typeof entry.msg === 'string' && pattern.test(entry.msg)) {
          child.off('exit', onExit)
          lines.close()
          resolve(entry)
        }
      } catch { /* npm's own banner lines */ }
    })
  })
}
