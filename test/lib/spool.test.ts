import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { Spool } from '../../src/lib/spool'

function tempDir (t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-spool-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function drain (spool: Spool, max = 1000): Promise<string[]> {
  const out: string[] = []
  for (let chunk = await spool.read(max); chunk !== null; chunk = await spool.read(max)) {
    out.push(...chunk.lines)
    await chunk.commit()
  }
  return out
}

t.test('lines come back in order, in chunks, while appends go on; a drained spool leaves no file', async (t) => {
  const dir = tempDir(t)
  const spool = new Spool({ dir, name: 'events.db' })
  t.teardown(() => spool.close())
  await spool.append(['1', '2', '3'])
  await spool.append(['4', '5'])
  t.equal(spool.depth, 5)
  const first = await spool.read(2)
  t.same(first?.lines, ['1', '2'])
  await first?.commit()
  await spool.append(['6'])
  const rest = await drain(spool, 2)
  t.same(rest, ['3', '4', '5', '6'])
  t.equal(spool.depth, 0)
  t.equal(spool.pending, false)
  t.same(fs.readdirSync(dir), [])
})

t.test('a chunk not committed is read again (a failed replay is retried from where it stood)', async (t) => {
  const spool = new Spool({ dir: tempDir(t), name: 'events.db' })
  t.teardown(() => spool.close())
  await spool.append(['a', 'b'])
  const once = await spool.read(10)
  t.same(once?.lines, ['a', 'b'])
  const again = await spool.read(10)
  t.same(again?.lines, ['a', 'b'])
  await again?.commit()
  t.equal(await spool.read(10), null)
})

t.test('the spool of a process that died is adopted, its cut-short last line skipped', async (t) => {
  const dir = tempDir(t)
  // a process that wrote two lines and half of a third, then died
  const script = `const fs=require('fs');fs.writeFileSync(${JSON.stringify(path.join(dir, 'events.db'))}+'.'+process.pid+'.abcdef.ndjson','x\\ny\\n{"half')`
  t.equal(spawnSync(process.execPath, ['-e', script]).status, 0)
  // another database's spool in the same folder is not touched
  fs.writeFileSync(path.join(dir, 'events.other.1.abcdef.ndjson'), 'z\n')
  const warnings: string[] = []
  const spool = new Spool({ dir, name: 'events.db', warn: (m) => warnings.push(m) })
  t.teardown(() => spool.close())
  t.equal(spool.adoptOrphans(), 1)
  t.equal(spool.depth, 2)
  t.same(await drain(spool), ['x', 'y'])
  t.equal(spool.skipped, 1)
  t.ok(warnings.some((w) => /cut short/.test(w)))
  t.same(fs.readdirSync(dir), ['events.other.1.abcdef.ndjson'])
})

t.test('the spool of a live writer in this process is not taken', async (t) => {
  const dir = tempDir(t)
  const a = new Spool({ dir, name: 'events.db' })
  const b = new Spool({ dir, name: 'events.db' })
  t.teardown(async () => { await a.close(); await b.close() })
  await a.append(['mine'])
  t.equal(b.adoptOrphans(), 0)
  await a.close()
  t.equal(b.adoptOrphans(), 1, 'once closed, it is an orphan')
  t.same(await drain(b), ['mine'])
})
