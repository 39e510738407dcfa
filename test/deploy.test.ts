import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parse } from 'yaml'
import { ENV_VARIABLES, loadConfig } from '../src/config'
import { checkNginxConfig } from './servers'

/**
 * docker-compose.yml cannot be run here (no Docker engine), so its structure is checked instead:
 * the services and how they find each other, the wardens' settings against the configuration
 * schema, the nginx files it mounts (and `nginx -t` on them), and the README's copy of the nginx
 * configuration against the file.
 */

const ROOT = resolve(__dirname, '..')
const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8')

interface Service {
  image?: string
  build?: string | { context: string }
  command?: string[]
  environment?: Record<string, string | number | boolean | null> | string[]
  ports?: string[]
  volumes?: string[]
  depends_on?: Record<string, { condition: string }> | string[]
  healthcheck?: { test?: string[] | string, interval?: string }
}
interface Compose {
  services: Record<string, Service>
  volumes?: Record<string, unknown>
}

const compose = parse(read('docker-compose.yml'), { merge: true }) as Compose
const services = compose.services

/** Compose's interpolation, for a file meant to run without a .env: `${NAME:-default}` gives the default. */
function interpolate (value: string): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g, (match, name: string | undefined, fallback: string | undefined) => {
    if (match === '$$') return '$'
    if (fallback === undefined) throw new Error(`\${${name}} has no default: docker compose up would need it set`)
    return fallback
  })
}

function environmentOf (service: Service): Record<string, string> {
  const entries = Array.isArray(service.environment)
    ? service.environment.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)])
    : Object.entries(service.environment ?? {}).map(([name, value]) => [name, String(value ?? '')])
  return Object.fromEntries(entries.map(([name, value]) => [name, interpolate(value)]))
}

function dependsOn (service: Service): Record<string, string> {
  const deps = service.depends_on ?? {}
  return Array.isArray(deps)
    ? Object.fromEntries(deps.map((name) => [name, 'service_started']))
    : Object.fromEntries(Object.entries(deps).map(([name, dep]) => [name, dep.condition]))
}

/** `host:container` of each published port (an optional address before them is dropped). */
function published (service: Service): Array<{ host: number, container: number }> {
  return (service.ports ?? []).map((port) => {
    const parts = String(port).split(':')
    return { host: Number(parts.at(-2)), container: Number(parts.at(-1)) }
  })
}

/** `source:target` of each bind mount; sources relative to the repository. */
function mounts (service: Service): Array<{ source: string, target: string }> {
  return (service.volumes ?? []).map((volume) => {
    const [source, target] = volume.split(':')
    return { source, target }
  })
}

/** Upstream name → its `server` entries, in a configuration's text. */
function upstreams (config: string): Record<string, string[]> {
  const found: Record<string, string[]> = {}
  for (const [, name, body] of config.matchAll(/^\s*upstream\s+(\S+)\s*\{([^}]*)\}/gm)) {
    found[name] = [...body.matchAll(/^\s*server\s+([^\s;]+)/gm)].map(([, server]) => server)
  }
  return found
}

const wardens = Object.keys(services).filter((name) => {
  const build = services[name].build
  return build === '.' || (typeof build === 'object' && build.context === '.')
})
const nginx = services.nginx
const composeConf = nginx === undefined ? undefined : mounts(nginx).find((m) => m.target === '/etc/nginx/conf.d/default.conf')
const composeConfText = composeConf === undefined ? '' : read(composeConf.source)
/** PORT of the image (Dockerfile's ENV), unless the service sets its own. */
const IMAGE_PORT = /^\s*ENV\b[\s\S]*?\bPORT=(\d+)/m.exec(read('Dockerfile'))?.[1]

t.test('the services: a MongoDB replica set, Redis, two wardens, a sample service and nginx', async (t) => {
  t.same(Object.keys(services).sort(), ['app', 'mongo', 'nginx', 'redis', 'warden-1', 'warden-2'])
  t.same(wardens, ['warden-1', 'warden-2'], 'two wardens built from this repository')
  t.ok(composeConf, 'nginx mounts its server configuration as conf.d/default.conf')

  const mongo = services.mongo
  t.match(mongo.image, /^mongo:7(\.|$)/, 'MongoDB 7')
  const replSet = mongo.command?.[(mongo.command.indexOf('--replSet')) + 1]
  t.equal(replSet, 'rs0', 'started as the replica set rs0')
  const test = [mongo.healthcheck?.test ?? []].flat()
  t.same(test.slice(0, 4), ['CMD', 'mongosh', '--quiet', '--eval'], 'the health check is a mongosh script')
  // The script run against stand-ins for mongosh's rs, db and quit: before and after the set exists.
  const run = (initiated: boolean, primary: boolean) => {
    const calls: { initiate: unknown[], exit?: number } = { initiate: [] }
    const rs = {
      status: () => { if (!initiated) throw new Error('no replset config has been received') },
      initiate: (config: unknown) => { calls.initiate.push(config) }
    }
    const db = { hello: () => ({ isWritablePrimary: primary }) }
    const quit = (code: number) => { calls.exit ??= code }
    new Function('rs', 'db', 'quit', String(test[4]))(rs, db, quit)
    return calls
  }
  t.same(run(false, false), { initiate: [{ _id: replSet, members: [{ _id: 0, host: 'mongo:27017' }] }], exit: 1 },
    'first run: initiates the set, with the member under the name the other services use; not healthy yet')
  t.same(run(true, false), { initiate: [], exit: 1 }, 'initiated once only; unhealthy until this member is the primary')
  t.same(run(true, true), { initiate: [], exit: 0 }, 'healthy once it is the primary')
  t.ok(mounts(mongo).some((m) => m.source === 'mongo-data' && m.target === '/data/db') && compose.volumes?.['mongo-data'] !== undefined, 'its data in a named volume')

  t.match(services.redis.image, /^redis:7/)
  t.ok(services.redis.healthcheck?.test, 'Redis has a health check')
  t.match(services.app.image, /^traefik\/whoami:/, 'the sample service echoes the request it receives')

  for (const name of Object.keys(services)) {
    if (name !== 'nginx') t.same(services[name].ports ?? [], [], `${name} publishes no port: only nginx can be reached`)
  }
})

t.test('the wardens: settings the configuration accepts, one database, one Redis, one issuer', async (t) => {
  const envs = wardens.map((name) => environmentOf(services[name]))
  const nginxPort = published(nginx).find((p) => composeConfText.includes(`listen ${p.container};`))
  for (const [i, name] of wardens.entries()) {
    const env = envs[i]
    const unknown = Object.keys(env).filter((key) => !(ENV_VARIABLES as readonly string[]).includes(key))
    t.same(unknown, [], `${name}: every variable is one src/config.ts reads`)
    const config = loadConfig({ HOST: '0.0.0.0', PORT: IMAGE_PORT, ...env })
    t.pass(`${name}: the configuration schema accepts its environment`)

    const mongo = new URL(env.MONGODB_URI)
    t.equal(mongo.host, 'mongo:27017', `${name}: the mongo service`)
    t.equal(mongo.searchParams.get('replicaSet'), 'rs0', `${name}: replicaSet=rs0`)
    t.equal(new URL(env.REDIS_URL).host, 'redis:6379', `${name}: the redis service`)
    t.equal(config.jwt.issuer, `http://localhost:${nginxPort?.host}`, `${name}: the issuer is the URL of nginx, where clients reach it`)
    t.equal(config.trustProxy, 1, `${name}: one proxy's X-Forwarded-For believed (nginx)`)
    t.same(dependsOn(services[name]), { mongo: 'service_healthy', redis: 'service_healthy' }, `${name}: starts once the databases are healthy`)
  }
  t.same(envs[1], envs[0], 'both wardens have the same settings')
  const dataDirs = wardens.map((name) => mounts(services[name]).find((m) => m.target === '/app/.data')?.source)
  t.same(dataDirs, wardens.map((name) => `${name}-data`), 'each warden keeps its DATA_DIR (the login-event spool) in a volume of its own')
  t.ok(dataDirs.every((volume) => volume !== undefined && compose.volumes?.[volume] !== undefined), 'declared as named volumes')
})

t.test('nginx: the files it mounts exist, its upstreams are the services, its port is the published one', async (t) => {
  for (const { source, target } of mounts(nginx)) {
    t.ok(source.startsWith('./') && existsSync(join(ROOT, source)), `${source} (mounted as ${target}) is in the repository`)
  }
  const included = [...composeConfText.matchAll(/^\s*include\s+([^;\s]+);/gm)].map(([, file]) => file)
  t.same(included, ['/etc/nginx/warden.conf'], 'the server includes one file')
  t.equal(mounts(nginx).find((m) => m.target === included[0])?.source, './deploy/nginx/warden.conf', 'the configuration the README shows and the nginx test runs')

  const port = wardens.length > 0 ? (environmentOf(services[wardens[0]]).PORT ?? IMAGE_PORT) : undefined
  t.equal(port, '3000', 'the wardens listen on 3000')
  t.same(upstreams(composeConfText), { warden: wardens.map((name) => `${name}:${port}`), backend: ['app:80'] },
    'upstream warden is the two wardens, backend the sample service (whoami listens on 80)')

  const listen = /^\s*listen\s+(\d+);/m.exec(composeConfText)?.[1]
  t.same(published(nginx), [{ host: 8080, container: Number(listen) }], 'the port nginx listens on is published as 8080')
  t.same(dependsOn(nginx), { 'warden-1': 'service_healthy', 'warden-2': 'service_healthy', app: 'service_started' },
    'nginx starts once the wardens answer (it resolves its upstreams at start)')
  t.match(read('Dockerfile'), /^HEALTHCHECK\b[\s\S]*\/health\/ready/m, 'the image checks /health/ready')
  for (const name of wardens) {
    const check = services[name].healthcheck
    t.ok(check !== undefined && check.test === undefined && check.interval !== undefined,
      `${name}: the image's health check, at an interval nginx can wait on`)
  }
})

t.test('nginx -t accepts the compose configuration (service names standing for loopback; -t binds no port)', async (t) => {
  const local = composeConfText
    .replace(/#.*$/gm, '')
    .replace(/^(\s*server\s+)[A-Za-z][\w.-]*(:\d+;)/gm, '$1127.0.0.1$2')
    .replace('include /etc/nginx/warden.conf;', `include "${join(ROOT, 'deploy', 'nginx', 'warden.conf')}";`)
  t.notMatch(local, /warden-\d|app:80|\/etc\/nginx/, 'every name replaced')
  await checkNginxConfig(`http {\n${local}\n}`)
  t.pass('nginx -t')
})

t.test('the README shows deploy/nginx/warden.conf as it is', async (t) => {
  const readme = read('README.md')
  const section = readme.slice(readme.indexOf('## Forward authentication'))
  const snippet = /```nginx\n([\s\S]*?)```/.exec(section)?.[1]
  t.equal(snippet, read('deploy/nginx/warden.conf'), 'the first nginx block of "Forward authentication" is the file')
  t.match(section.slice(0, section.indexOf('```nginx')), /deploy\/nginx\/warden\.conf/, 'and names it')
})
