import t from 'tap'
import pino from 'pino'
import { build, PASSWORD } from '../helper'
import { loggerOptions } from '../../src/app'
import { loadConfig } from '../../src/config'

t.test('no password or token reaches a log line, even at trace level', async (t) => {
  const lines: string[] = []
  const app = await build(t, { LOG_LEVEL: 'trace' }, {
    logger: undefined,
    // the logger the server builds (src/server.ts), writing into `lines`
    loggerInstance: pino(loggerOptions(loadConfig({ LOG_LEVEL: 'trace' })), { write: (line: string) => { lines.push(line) } })
  })
  await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'ivy', password: PASSWORD } })
  const login = await app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'ivy', password: PASSWORD } })
  const { access_token: access, refresh_token: refresh } = login.json()
  await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${access}` } })
  await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${access}x` } })
  app.log.info({ password: PASSWORD, body: { refresh_token: refresh } }, 'a careless log call')

  const text = lines.join('')
  t.ok(lines.length > 4, 'request lines were logged')
  t.notMatch(text, PASSWORD)
  t.notMatch(text, access)
  t.notMatch(text, refresh)
  t.match(text, '[redacted]')
})
