/**
 * Summarises a V8 .cpuprofile (as written by `node --cpu-prof`): the functions with the
 * most self time, and self time by package or file.
 *
 * Usage: node dist/bench/tools/cpuprofile-summary.js FILE.cpuprofile... [--top N] [--since SECONDS]
 *   Several files are added up. Where a FILE.json written by the bench gives the request
 *   count of the profiled period, costs are shown in microseconds per request.
 *   --since S        ignore samples from the first S seconds of each profile
 *   --baseline A,B   also print the per-request difference from these profiles (e.g. the reference)
 *   --callers NAME   also print the call paths that lead to the self time of function NAME
 *   --depth N        frames shown per call path with --callers (default 8)
 */
import fs from 'node:fs'
import path from 'node:path'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
  columnNumber: number
}

interface ProfileNode {
  id: number
  callFrame: CallFrame
  children?: number[]
}

interface Profile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

function where (url: string): string {
  if (url === '') return '(native/V8)'
  const file = url.replace(/^file:\/\//, '')
  const nm = file.lastIndexOf('/node_modules/')
  if (nm !== -1) {
    const rest = file.slice(nm + '/node_modules/'.length).split('/')
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
  }
  if (file.startsWith('node:')) return file
  const dist = file.lastIndexOf('/dist/')
  return dist !== -1 ? file.slice(dist + 1) : path.basename(file)
}

function shortUrl (url: string): string {
  const file = url.replace(/^file:\/\//, '')
  const nm = file.lastIndexOf('/node_modules/')
  if (nm !== -1) return file.slice(nm + '/node_modules/'.length)
  const dist = file.lastIndexOf('/dist/')
  return dist !== -1 ? file.slice(dist + 1) : file
}

/** Nodes under the bench's own profile hook (starting and stopping the profiler): not the server's work. */
function hookNodes (profile: Profile): Set<number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const out = new Set<number>()
  const mark = (id: number): void => {
    out.add(id)
    for (const c of byId.get(id)?.children ?? []) mark(c)
  }
  for (const n of profile.nodes) if (n.callFrame.url.includes('profile-hook')) mark(n.id)
  return out
}

interface Aggregate {
  files: string[]
  /** microseconds sampled, idle and not */
  total: number
  idle: number
  /** requests of the profiled periods, when every file has its .json */
  requests: number | undefined
  fns: Map<string, { name: string, location: string, us: number }>
  places: Map<string, number>
}

function aggregate (files: string[], sinceUs: number): Aggregate {
  const agg: Aggregate = { files, total: 0, idle: 0, requests: 0, fns: new Map(), places: new Map() }
  for (const file of files) {
    try {
      const sidecar = JSON.parse(fs.readFileSync(file.replace(/\.cpuprofile$/, '.json'), 'utf8')) as { requests: number }
      if (agg.requests !== undefined) agg.requests += sidecar.requests
    } catch {
      agg.requests = undefined
    }
    const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile
    const byId = new Map(profile.nodes.map((n) => [n.id, n]))
    const hook = hookNodes(profile)
    const self = new Map<number, number>()
    let t = 0
    for (let i = 0; i < profile.samples.length; i++) {
      const dt = profile.timeDeltas[i] ?? 0
      t += dt
      if (t < sinceUs || hook.has(profile.samples[i])) continue
      self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + dt)
      agg.total += dt
    }
    for (const [id, us] of self) {
      const node = byId.get(id)
      if (node === undefined) continue
      const { functionName, url, lineNumber } = node.callFrame
      const name = functionName === '' ? '(anonymous)' : functionName
      if (name === '(idle)') {
        agg.idle += us
        continue
      }
      const location = url === '' ? '' : `${shortUrl(url)}:${lineNumber + 1}`
      const key = `${name} ${location}`
      const entry = agg.fns.get(key) ?? { name, location, us: 0 }
      entry.us += us
      agg.fns.set(key, entry)
      const place = url === '' ? name.startsWith('(') ? name : '(native/V8)' : where(url)
      agg.places.set(place, (agg.places.get(place) ?? 0) + us)
    }
  }
  return agg
}

/** The call paths (up to `depth` frames) that lead to samples in functions named `name`. */
function printCallers (files: string[], name: string, top: number, requests: number | undefined, depth: number): void {
  const paths = new Map<string, number>()
  let all = 0
  for (const file of files) {
    const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile
    const byId = new Map(profile.nodes.map((n) => [n.id, n]))
    const hook = hookNodes(profile)
    const parent = new Map<number, number>()
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
    const self = new Map<number, number>()
    for (let i = 0; i < profile.samples.length; i++) self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0))
    for (const [id, us] of self) {
      const fn = byId.get(id)?.callFrame.functionName
      if ((fn === '' ? '(anonymous)' : fn) !== name || hook.has(id)) continue
      const frames: string[] = []
      for (let p = parent.get(id); p !== undefined && frames.length < depth; p = parent.get(p)) {
        const f = byId.get(p)?.callFrame
        if (f === undefined) break
        frames.push(`${f.functionName === '' ? '(anonymous)' : f.functionName}${f.url === '' ? '' : ` (${where(f.url)})`}`)
      }
      const key = frames.join(' < ')
      paths.set(key, (paths.get(key) ?? 0) + us)
      all += us
    }
  }
  process.stdout.write(`\nCallers of ${name} (${requests !== undefined && requests > 0 ? `${(all / requests).toFixed(2)} µs/req` : `${(all / 1000).toFixed(0)} ms`}):\n`)
  for (const [key, us] of [...paths].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${((us / all) * 100).toFixed(1).padStart(5)}%  ${name} < ${key}\n`)
  }
}

function main (): void {
  const args = process.argv.slice(2)
  const flagValue = new Set<number>()
  const option = (name: string): string | undefined => {
    const i = args.indexOf(name)
    if (i === -1) return undefined
    flagValue.add(i + 1)
    return args[i + 1]
  }
  const top = Number(option('--top') ?? 25)
  const sinceUs = Number(option('--since') ?? 0) * 1e6
  const baselineFiles = option('--baseline')?.split(',').filter(Boolean)
  const callersOf = option('--callers')
  const depth = Number(option('--depth') ?? 8)
  const files = args.filter((a, i) => !a.startsWith('--') && !flagValue.has(i))
  if (files.length === 0) {
    process.stderr.write('usage: cpuprofile-summary FILE.cpuprofile... [--top N] [--since SECONDS] [--baseline A.cpuprofile,B.cpuprofile] [--callers FUNCTION]\n')
    process.exit(2)
  }

  const subject = aggregate(files, sinceUs)
  const busy = subject.total - subject.idle
  const perRequest = subject.requests !== undefined && subject.requests > 0
  const pct = (us: number): string => `${((us / busy) * 100).toFixed(1).padStart(5)}%`
  const cost = (us: number): string => perRequest ? `${(us / (subject.requests as number)).toFixed(2).padStart(7)} µs/req` : `${(us / 1000).toFixed(0).padStart(7)} ms`
  process.stdout.write(`${files.join('\n')}\n${(subject.total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s not idle` +
    `${perRequest ? `, ${subject.requests} requests: ${(busy / (subject.requests as number)).toFixed(1)} µs of CPU per request` : ''} (percentages are of the non-idle time)\n\n`)
  process.stdout.write(`Top ${top} functions by self time:\n`)
  for (const f of [...subject.fns.values()].sort((a, b) => b.us - a.us).slice(0, top)) {
    process.stdout.write(`${pct(f.us)}  ${cost(f.us)}  ${f.name}  ${f.location}\n`)
  }
  process.stdout.write('\nSelf time by package / file:\n')
  for (const [place, us] of [...subject.places].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${pct(us)}  ${cost(us)}  ${place}\n`)
  }

  if (callersOf !== undefined) printCallers(files, callersOf, top, subject.requests, depth)
  if (baselineFiles === undefined) return
  const base = aggregate(baselineFiles, sinceUs)
  if (!perRequest || base.requests === undefined || base.requests === 0) {
    process.stderr.write('--baseline needs the .json request counts next to every profile\n')
    process.exit(2)
  }
  const n = subject.requests as number
  const m = base.requests
  const baseBusy = base.total - base.idle
  process.stdout.write(`\nPer request against the baseline (${baselineFiles.join(', ')}): ${(busy / n).toFixed(1)} µs vs ${(baseBusy / m).toFixed(1)} µs\n`)
  const diff = (a: Map<string, number>, b: Map<string, number>): Array<[string, number, number]> => {
    const keys = new Set([...a.keys(), ...b.keys()])
    return [...keys].map((k): [string, number, number] => [k, (a.get(k) ?? 0) / n, (b.get(k) ?? 0) / m])
      .sort((x, y) => Math.abs(y[1] - y[2]) - Math.abs(x[1] - x[2])).slice(0, top)
  }
  const row = ([k, a, b]: [string, number, number]): string =>
    `${(a - b >= 0 ? '+' : '') + (a - b).toFixed(2)} µs/req`.padStart(15) + `  ${a.toFixed(2).padStart(6)} vs ${b.toFixed(2).padStart(6)}  ${k}\n`
  process.stdout.write(`\nLargest differences by function (subject - baseline):\n`)
  const fnMap = (agg: Aggregate): Map<string, number> => new Map([...agg.fns].map(([k, v]) => [k, v.us]))
  for (const r of diff(fnMap(subject), fnMap(base))) process.stdout.write(row(r))
  process.stdout.write(`\nLargest differences by package / file:\n`)
  for (const r of diff(subject.places, base.places)) process.stdout.write(row(r))
}

main()
