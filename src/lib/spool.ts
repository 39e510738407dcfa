/**
 * An append-only spool on local disk: records that could not reach the database wait here, in
 * order, until they can be replayed. One spool per writer; a spool left behind by a process that
 * died is adopted and replayed by the next writer of the same name in the same folder.
 *
 * Files: `<dir>/<name>.<pid>.<instance>.ndjson` (being appended to) and
 * `<dir>/<name>.<pid>.<instance>.<n>.ndjson` (closed, waiting to be replayed). One line per record.
 *
 * Durability: every `append` ends with an fsync of the file (and of the folder when the file is
 * new), so a record that `append` resolved for survives a crash of the process or of the machine.
 * A line cut short by a crash in the middle of an append was never acknowledged; it is skipped
 * (and counted) on replay.
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

/** Instances alive in this process (a same-pid file of another live instance is not an orphan). */
const liveInstances = new Set<string>()

const READ_BLOCK = 1 << 20

export interface SpoolChunk {
  lines: string[]
  /** Marks the chunk replayed: the next read starts after it; a file read to its end is removed. */
  commit(): Promise<void>
}

export interface SpoolOptions {
  dir: string
  /** Distinguishes spools of different databases sharing a folder, e.g. `login-events.warden`. */
  name: string
  /** Told about skipped lines and adopted files. */
  warn?: (message: string, details?: Record<string, unknown>) => void
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function escapeRegExp (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

export class Spool {
  readonly dir: string
  private readonly name: string
  private readonly instance = randomBytes(6).toString('hex')
  private readonly warn: (message: string, details?: Record<string, unknown>) => void
  private readonly pattern: RegExp
  /** Closed files waiting to be replayed, oldest first. */
  private readonly queue: string[] = []
  private handle: fs.promises.FileHandle | null = null
  private rotations = 0
  /** Byte offset reached in queue[0]. */
  private offset = 0
  /** Lines appended or adopted and not yet replayed (adopted files are counted when read). */
  private pendingLines = 0
  private corrupt = 0

  constructor (opts: SpoolOptions) {
    this.dir = opts.dir
    this.name = opts.name
    this.warn = opts.warn ?? (() => {})
    this.pattern = new RegExp(`^${escapeRegExp(opts.name)}\\.(\\d+)\\.([0-9a-f]+)(?:\\.(\\d+))?\\.ndjson$`)
    liveInstances.add(this.instance)
  }

  private get activePath (): string {
    return path.join(this.dir, `${this.name}.${process.pid}.${this.instance}.ndjson`)
  }

  /** Lines waiting to be replayed (those of adopted files once they are being read). */
  get depth (): number {
    return this.pendingLines
  }

  /** Lines skipped because they were cut short or unreadable. */
  get skipped (): number {
    return this.corrupt
  }

  /** Whether anything waits to be replayed. */
  get pending (): boolean {
    return this.queue.length > 0 || this.handle !== null
  }

  /** Appends records (one line each) and waits until they are on disk. */
  async append (lines: string[]): Promise<void> {
    if (lines.length === 0) return
    if (this.handle === null) {
      fs.mkdirSync(this.dir, { recursive: true })
      this.handle = await fs.promises.open(this.activePath, 'a')
      await this.syncDir()
    }
    await this.handle.write(lines.join('\n') + '\n')
    await this.handle.datasync()
    this.pendingLines += lines.length
  }

  /**
   * Takes over the spools of writers that are gone (a process that died, or an earlier process
   * with this pid): they are renamed to this writer and replayed before its own lines.
   */
  adoptOrphans (): number {
    let names: string[]
    try {
      names = fs.readdirSync(this.dir)
    } catch {
      return 0
    }
    const orphans: Array<{ file: string, mtime: number }> = []
    for (const file of names) {
      const match = this.pattern.exec(file)
      if (match === null) continue
      const pid = Number(match[1])
      const instance = match[2]
      if (instance === this.instance) continue
      const gone = pid === process.pid ? !liveInstances.has(instance) : !isAlive(pid)
      if (!gone) continue
      try {
        orphans.push({ file, mtime: fs.statSync(path.join(this.dir, file)).mtimeMs })
      } catch {
        // adopted by another writer meanwhile
      }
    }
    orphans.sort((a, b) => a.mtime - b.mtime)
    let adopted = 0
    for (const { file } of orphans) {
      const target = this.nextClosedPath()
      try {
        // rename is atomic: of several writers adopting at once, one wins each file
        fs.renameSync(path.join(this.dir, file), target)
      } catch {
        continue
      }
      this.queue.push(target)
      this.pendingLines += this.countLines(target)
      adopted++
      this.warn('replaying a login-event spool left by a stopped process', { file })
    }
    return adopted
  }

  /**
   * The next lines to replay, oldest first (at most `max`), or null when nothing waits. The
   * file being appended to is closed first, so appends go on in a new file while it is replayed.
   */
  async read (max: number): Promise<SpoolChunk | null> {
    if (this.queue.length === 0) {
      if (this.handle === null) return null
      await this.handle.close()
      this.handle = null
      const closed = this.nextClosedPath()
      fs.renameSync(this.activePath, closed)
      this.queue.push(closed)
    }
    const file = this.queue[0]
    const fd = await fs.promises.open(file, 'r')
    const lines: string[] = []
    let consumed = 0
    let atEnd = false
    try {
      const size = (await fd.stat()).size
      let position = this.offset
      let carry = ''
      while (lines.length < max && position < size) {
        const buffer = Buffer.alloc(Math.min(READ_BLOCK, size - position))
        const { bytesRead } = await fd.read(buffer, 0, buffer.length, position)
        if (bytesRead === 0) break
        position += bytesRead
        const text = carry + buffer.subarray(0, bytesRead).toString('utf8')
        const parts = text.split('\n')
        carry = parts.pop() ?? ''
        for (const line of parts) {
          if (lines.length < max) {
            lines.push(line)
            consumed += Buffer.byteLength(line) + 1
          }
        }
        if (lines.length >= max) break
      }
      atEnd = this.offset + consumed >= size
      if (!atEnd && lines.length < max && position >= size) {
        // a last line without its newline: an append a crash cut short, never acknowledged
        this.corrupt++
        this.warn('skipping a login-event spool line cut short', { file: path.basename(file) })
        consumed = size - this.offset
        atEnd = true
      }
    } finally {
      await fd.close()
    }
    const start = this.offset
    return {
      lines: lines.filter((line) => line !== ''),
      commit: async () => {
        if (this.queue[0] !== file || this.offset !== start) return
        this.pendingLines = Math.max(0, this.pendingLines - lines.length)
        if (atEnd) {
          await fs.promises.rm(file, { force: true })
          this.queue.shift()
          this.offset = 0
        } else {
          this.offset = start + consumed
        }
      }
    }
  }

  /** Counts a line that could not be parsed (skipped by the reader's caller). */
  noteCorrupt (): void {
    this.corrupt++
  }

  /** Closes the file being appended to; what is spooled stays for the next writer. */
  async close (): Promise<void> {
    liveInstances.delete(this.instance)
    if (this.handle !== null) {
      await this.handle.close()
      this.handle = null
    }
  }

  private countLines (file: string): number {
    let count = 0
    let fd: number | undefined
    try {
      fd = fs.openSync(file, 'r')
      const buffer = Buffer.alloc(READ_BLOCK)
      for (let read = fs.readSync(fd, buffer); read > 0; read = fs.readSync(fd, buffer)) {
        for (let i = buffer.indexOf(10); i !== -1 && i < read; i = buffer.indexOf(10, i + 1)) count++
      }
    } catch {
      // removed meanwhile
    } finally {
      if (fd !== undefined) fs.closeSync(fd)
    }
    return count
  }

  private nextClosedPath (): string {
    return path.join(this.dir, `${this.name}.${process.pid}.${this.instance}.${++this.rotations}.ndjson`)
  }

  private async syncDir (): Promise<void> {
    let dir: fs.promises.FileHandle | undefined
    try {
      dir = await fs.promises.open(this.dir, 'r')
      await dir.sync()
    } catch {
      // not every file system lets a folder be synced
    } finally {
      await dir?.close()
    }
  }
}
