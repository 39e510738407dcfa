import { startDatabase } from '../src/lib/embedded-db'
async function main (): Promise<void> {
  const t = Date.now()
  const h = await startDatabase({ dataDir: '/tmp/edtest/data', log: (m) => { console.log('log:', m) } })
  console.log(h.kind, h.uri, h.pid, Date.now() - t, 'ms')
  const h2 = await startDatabase({ dataDir: '/tmp/edtest/data', dbName: 'other' })
  console.log(h2.kind, h2.uri)
  if (process.argv[2] === 'noStop') return
  await h.stop()
  console.log('stopped', Date.now() - t)
}
main().catch((e) => { console.error('ERR', e); process.exit(1) })
