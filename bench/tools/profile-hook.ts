/**
 * Preloaded into a server child by `npm run bench -- --cpu-prof` (node -r): profiles only the
 * measured load periods. The runner writes the profile's file name to
 * `$BENCH_PROFILE_DIR/next-<pid>.txt` and sends SIGWINCH to start profiling; the next SIGWINCH
 * stops it and writes `$BENCH_PROFILE_DIR/<name>.cpuprofile`. SIGWINCH because it is ignored by
 * default and not used by servers without a terminal (SIGUSR2 means shut down to close-with-grace;
 * SIGUSR1 starts Node's inspector).
 */
import fs from 'node:fs'
import inspector from 'node:inspector'
import path from 'node:path'

const dir = process.env.BENCH_PROFILE_DIR
if (dir !== undefined && dir !== '') {
  const session = new inspector.Session()
  session.connect()
  let running: string | undefined

  const post = (method: string, params?: object): Promise<unknown> => new Promise((resolve, reject) => {
    session.post(method, params, (err: Error | null, result?: unknown) => {
      if (err === null) resolve(result)
      else reject(err)
    })
  })

  process.on('SIGWINCH', () => {
    if (running === undefined) {
      const nameFile = path.join(dir, `next-${process.pid}.txt`)
      let name = `profile-${process.pid}-${Date.now()}`
      try {
        name = fs.readFileSync(nameFile, 'utf8').trim() || name
        fs.rmSync(nameFile, { force: true })
      } catch {
        // default name
      }
      running = name
      void post('Profiler.enable').then(() => post('Profiler.setSamplingInterval', { interval: 500 })).then(() => post('Profiler.start'))
    } else {
      const name = running
      running = undefined
      void post('Profiler.stop').then((result) => {
        const { profile } = result as { profile: unknown }
        fs.writeFileSync(path.join(dir, `${name}.cpuprofile`), JSON.stringify(profile))
      })
    }
  })
}
