/**
 * Writing a run's figures: the dated JSON file under bench/results/ (named after the date and
 * the commit), the `latest` copies, and what every document says about the run (commit,
 * machine, Node, database, Warden's configuration).
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Environment } from './environment'

export function git (root: string, args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim()
  } catch {
    return undefined
  }
}

export function packageVersion (root: string, name: string): string | null {
  try {
    return (JSON.parse(fs.readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return null
  }
}

/** 2026-11-23T14-46-05Z: an ISO date that is a valid file name. */
export function fileStamp (date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')
}

export function writeAtomic (file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, text)
  fs.renameSync(tmp, file)
}

/** JSON with non-finite numbers written as null. */
export function toJson (document: unknown): string {
  return JSON.stringify(document, (_key, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? null : value), 2) + '\n'
}

export interface RunInfo {
  date: string
  commit: string
  /** uncommitted changes outside bench/results (null when git could not tell) */
  dirty: boolean | null
  dirty_note?: string
  node: string
  platform: string
  cpu_model: string
  cores: number
  memory_gb: number
  database: string
  /** Warden's configuration in the children, without the database URI and data folder */
  warden_env: Record<string, string>
}

/** What a results document says about the run that made it. */
export function runInfo (env: Environment, date: Date): RunInfo {
  const dirtyFiles = git(env.root, ['status', '--porcelain', '--', '.', ':(exclude)bench/results'])
  const dirty = dirtyFiles === undefined ? null : dirtyFiles !== ''
  return {
    date: date.toISOString(),
    commit: git(env.root, ['rev-parse', '--short', 'HEAD']) ?? 'unknown',
    dirty,
    dirty_note: dirty === true ? 'the working tree had uncommitted changes: figures describe the tree, not the commit alone' : undefined,
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpu_model: os.cpus()[0]?.model ?? 'unknown',
    cores: env.cores,
    memory_gb: Math.round(os.totalmem() / 1e9),
    database: env.databaseKind,
    warden_env: Object.fromEntries(Object.entries(env.wardenBaseEnv).filter(([k]) => k !== 'MONGODB_URI' && k !== 'DATA_DIR'))
  }
}

/**
 * Writes `<dir>/<date>-<commit>.json` and `<dir>/latest.json`; returns the dated file's path.
 */
export function writeResults (dir: string, info: RunInfo, json: string): string {
  const named = path.join(dir, `${fileStamp(new Date(info.date))}-${info.commit}.json`)
  writeAtomic(named, json)
  writeAtomic(path.join(dir, 'latest.json'), json)
  return named
}
