/**
 * Finding database server binaries: executables on PATH and in Go's binary folders,
 * FerretDB built once with scripts/install-ferretdb.sh when Go is installed, and a
 * mongod fetched by the optional mongodb-memory-server-core.
 */
import { spawn, execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const BUILD_TIMEOUT_MS = 15 * 60_000
const DOWNLOAD_TIMEOUT_MS = 10 * 60_000

export function findExecutable (name: string, extraDirs: string[] = []): string | undefined {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== '').concat(extraDirs)
  for (const dir of dirs) {
    const candidate = path.join(dir, name)
    try {
      fs.accessSync(candidate, fs.constants.X_OK)
      if (fs.statSync(candidate).isFile()) return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

/** Directories where `go install` puts binaries, without running go. */
function goBinDirs (): string[] {
  const dirs: string[] = []
  if (process.env.GOBIN !== undefined && process.env.GOBIN !== '') dirs.push(process.env.GOBIN)
  const gopath = process.env.GOPATH
  if (gopath !== undefined && gopath !== '') {
    for (const p of gopath.split(path.delimiter)) if (p !== '') dirs.push(path.join(p, 'bin'))
  } else {
    dirs.push(path.join(os.homedir(), 'go', 'bin'))
  }
  return dirs
}

/** `$(go env GOPATH)/bin` and `$(go env GOBIN)` as reported by go itself. */
function goEnvBinDirs (go: string): string[] {
  try {
    const out = execFileSync(go, ['env', 'GOBIN', 'GOPATH'], { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'ignore'] })
    const [gobin = '', gopath = ''] = out.split('\n').map((l) => l.trim())
    const dirs: string[] = []
    if (gobin !== '') dirs.push(gobin)
    for (const p of gopath.split(path.delimiter)) if (p !== '') dirs.push(path.join(p, 'bin'))
    return dirs
  } catch {
    return []
  }
}

/** A FerretDB binary built without version information panics at start-up; `--version` shows it. */
function ferretdbWorks (bin: string): boolean {
  try {
    const out = execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'ignore'] })
    return out.startsWith('version:')
  } catch {
    return false
  }
}

/**
 * A working FerretDB binary: on PATH, in Go's binary folders, or built with
 * scripts/install-ferretdb.sh when Go is installed. Why there is none goes to `notes`.
 */
export async function findOrBuildFerretDB (log: (msg: string) => void, notes: string[]): Promise<string | undefined> {
  const seen = new Set<string>()
  const usable = (bin: string | undefined): bin is string => {
    if (bin === undefined || seen.has(bin)) return false
    seen.add(bin)
    return ferretdbWorks(bin)
  }

  const found = findExecutable('ferretdb', goBinDirs())
  if (usable(found)) return found

  const go = findExecutable('go')
  if (go === undefined) return undefined
  const viaGoEnv = findExecutable('ferretdb', goEnvBinDirs(go))
  if (usable(viaGoEnv)) return viaGoEnv

  const script = installScriptPath()
  if (script === undefined) {
    notes.push('scripts/install-ferretdb.sh not found')
    return undefined
  }
  log('FerretDB not found: building it once with Go (about a minute the first time)')
  const result = await runInstallScript(script, log)
  if (!result.ok) {
    notes.push(`building FerretDB failed: ${result.message}`)
    log(`Building FerretDB failed: ${result.message}`)
    return undefined
  }
  if (usable(result.path)) {
    log(`Installed FerretDB at ${result.path}`)
    return result.path
  }
  notes.push(`the FerretDB built at ${result.path} does not start`)
  return undefined
}

/**
 * scripts/install-ferretdb.sh of this project, found by walking up from this file:
 * works from src/lib/embedded-db (tsx, ts-node) and from dist/src/lib/embedded-db
 * after a build alike (dist/ may hold a copy of package.json, so that alone does not
 * mark the root).
 */
function installScriptPath (): string | undefined {
  let dir = __dirname
  for (;;) {
    const script = path.join(dir, 'scripts', 'install-ferretdb.sh')
    if (fs.existsSync(script)) return script
    const parent = path.dirname(dir)
    if (parent === dir) return undefined
    dir = parent
  }
}

type InstallResult = { ok: true, path: string } | { ok: false, message: string }

function runInstallScript (script: string, log: (msg: string) => void): Promise<InstallResult> {
  return new Promise((resolve) => {
    const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let lastError = ''
    let pending = ''
    const timer = setTimeout(() => { child.kill('SIGKILL') }, BUILD_TIMEOUT_MS)
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const line of lines) {
        if (line.trim() === '') continue
        lastError = line
        log(line.trim())
      }
    })
    child.on('error', (err) => {
      clearTimeout(timer)
      resolve({ ok: false, message: err.message })
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (pending.trim() !== '') lastError = pending.trim()
      const lines = stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '')
      const last = lines[lines.length - 1]
      if (code === 0 && last !== undefined) resolve({ ok: true, path: last })
      else resolve({ ok: false, message: lastError !== '' ? lastError : `install script exited with ${signal ?? code}` })
    })
  })
}

interface MemoryServerModule {
  MongoBinary: { getPath(opts?: Record<string, unknown>): Promise<string> }
}

/** mongodb-memory-server-core is an optional dependency: it downloads a mongod binary once. */
export async function memoryServerBinary (dataDir: string, log: (msg: string) => void, notes: string[]): Promise<string | undefined> {
  let mod: MemoryServerModule
  try {
    const name = 'mongodb-memory-server-core'
    mod = await import(name) as MemoryServerModule
  } catch {
    return undefined
  }
  log('Fetching a mongod binary with mongodb-memory-server (once)')
  let timer: NodeJS.Timeout | undefined
  try {
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new Error('download timed out')) }, DOWNLOAD_TIMEOUT_MS)
      timer.unref()
    })
    const bin = await Promise.race([mod.MongoBinary.getPath(), timeout])
    fs.mkdirSync(path.join(dataDir, 'mongodb'), { recursive: true })
    return bin
  } catch (err) {
    const message = oneLine(err instanceof Error ? err.message : String(err))
    notes.push(`mongodb-memory-server: ${message}`)
    log(`mongodb-memory-server could not provide mongod: ${message}`)
    return undefined
  } finally {
    clearTimeout(timer)
  }
}

/** Collapses a multi-line error message to one short line. */
function oneLine (s: string, max = 200): string {
  const line = s.replace(/\s+/g, ' ').trim()
  return line.length > max ? `${line.slice(0, max - 3)}...` : line
}
