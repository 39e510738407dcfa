import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { originOf } from '../../src/lib/origin'
import { UnlockBody, UnlockRequestBody } from '../../src/schemas/auth'
import { Empty, responses } from '../../src/schemas/common'

/** The page an unlock link opens: one button that sends the token (a link alone must not unlock: mail scanners open links). */
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="referrer" content="no-referrer"><title>Unlock your account</title></head>
<body style="font-family: sans-serif; max-width: 32rem; margin: 4rem auto">
<h1>Unlock your account</h1>
<p id="status">Press the button to unlock your account.</p>
<button id="unlock">Unlock</button>
<script>
document.getElementById('unlock').addEventListener('click', async function () {
  var token = new URLSearchParams(location.search).get('token') || ''
  var res = await fetch(location.pathname, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: token }) })
  document.getElementById('status').textContent = res.status === 204 ? 'Your account is unlocked: you can sign in again.' : 'This link is invalid, expired or already used.'
  this.remove()
})
</script></body></html>
`

const unlock: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/auth/unlock/request', {
    config: { auth: false },
    schema: {
      tags: ['auth'],
      summary: 'Ask for an unlock link',
      description: 'Always 202: when the account is locked automatically and has an e-mail address, a single-use link valid for 30 minutes is sent to it.',
      body: UnlockRequestBody,
      response: responses({ 202: Empty }, 400, 429)
    }
  }, async (request, reply) => {
    void fastify.selfServiceUnlock.request(request.body.username, originOf(request))
    return reply.code(202).send(undefined as unknown as null)
  })

  fastify.post('/auth/unlock', {
    config: { auth: false },
    schema: {
      tags: ['auth'],
      summary: 'Unlock an account with the token of an unlock link',
      body: UnlockBody,
      response: responses({ 204: Empty }, 400, 429)
    }
  }, async (request, reply) => {
    await fastify.selfServiceUnlock.redeem(request.body.token, originOf(request))
    return reply.code(204).send(undefined as unknown as null)
  })

  fastify.get('/auth/unlock', {
    config: { auth: false },
    schema: {
      tags: ['auth'],
      summary: 'The page an unlock link opens (a button that posts its token)',
      querystring: Type.Object({ token: Type.Optional(Type.String({ maxLength: 256 })) }),
      // HTML for its 200 only: a token that does not fit is answered 400 in JSON, like every other route.
      response: responses({ 200: Type.Unsafe<string>({ description: 'HTML page', content: { 'text/html; charset=utf-8': { schema: Type.String() } } }) }, 400)
    }
  }, async (request, reply) => {
    return reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('content-security-policy', "default-src 'none'; script-src 'unsafe-inline'; connect-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'")
      .send(PAGE)
  })
}

export default unlock
