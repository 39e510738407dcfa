import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { resolve } from 'node:path'

export const ROOT = resolve(__dirname, '..', '..')
/** Run Warden from source with the TypeScript loader the tests run under. */
export const LOADER = process.execArgv.filter((arg) => arg.includes('typescript'))

/** Runs `warden <args>` as a separate process; resolves with its exit code and output. */
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
