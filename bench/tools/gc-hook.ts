/**
 * Preloaded into the Warden child of `npm run soak` (node -r): SIGWINCH makes V8 run one full
 * (major) garbage collection, as `gc()` does with --expose-gc, which the hook turns on for
 * itself. The soak sends it at the end of its warm-up: a fresh process grows its heap towards a
 * first limit set at start-up and first collects it a minute or two later, so without it the RSS
 * after the warm-up would be measured on the way up to that limit; after it, the heap's limit
 * follows what is live, as in a process that has run for long. Not the inspector's
 * collectGarbage, which also gives memory back to the system and would make the RSS after the
 * warm-up lower than the process ever keeps it. SIGWINCH because it is ignored by default and
 * used by no server without a terminal (see profile-hook.ts, which the soak does not load).
 */
import v8 from 'node:v8'
import vm from 'node:vm'

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void
process.on('SIGWINCH', () => { gc() })
