// Ports: an http.server on 127.0.0.1 inside a sandbox with loopbackInet, reached from the host
// through the forward's unix socket, against the real daemon. The test daemon runs in a network
// namespace of its own, so its TCP listeners (getHost) are not reachable from node here: the
// address's shape is checked, and its forward ending with closePort().
import assert from 'node:assert/strict'
import { existsSync, statSync } from 'node:fs'
import http from 'node:http'
import { test } from 'node:test'

import { ConflictError, InvalidArgumentError } from 'declaw'
import { sandbox, sleep } from './support.mjs'

/** GET PATH over the unix socket SOCKET_PATH: {status, body}, or undefined if the connection closed first. */
function getOverSocket(socketPath, path = '/') {
  return new Promise((resolve) => {
    const req = http.request({ socketPath, path, timeout: 10_000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode, body }))
      res.on('error', () => resolve(undefined))
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(undefined))
    req.end()
  })
}

/** A python sandbox with loopback TCP serving /tmp/site on 127.0.0.1:PORT, and the forward's socket. */
async function serving(t, port = 8000) {
  const sbx = await sandbox(t, { template: 'python', network: { loopbackInet: true } })
  await sbx.files.write('/tmp/site/hello.txt', 'hello from inside\n')
  await sbx.commands.run(`python3 -m http.server ${port} --bind 127.0.0.1 --directory /tmp/site`, { background: true })
  const socketPath = await sbx.getPortSocket(port)
  const deadline = Date.now() + 20_000
  while (!(await getOverSocket(socketPath))) {
    if (Date.now() > deadline) throw new Error(`http.server on ${port} did not answer`)
    await sleep(50)
  }
  return { sbx, socketPath }
}

test('the port socket serves the directory listing and is the owner\'s', async (t) => {
  const { sbx, socketPath } = await serving(t)
  assert.ok(socketPath.endsWith(`/${sbx.sandboxId}/8000.sock`), socketPath)
  assert.equal(await sbx.getPortSocket(8000), socketPath)
  const st = statSync(socketPath)
  assert.ok(st.isSocket())
  assert.equal(st.mode & 0o777, 0o600)
  const listing = await getOverSocket(socketPath)
  assert.equal(listing.status, 200)
  assert.match(listing.body, /Directory listing/)
  assert.match(listing.body, /hello\.txt/)
  assert.deepEqual(await getOverSocket(socketPath, '/hello.txt'), { status: 200, body: 'hello from inside\n' })
})

test('getHost is a loopback address, listed, and closePort ends the forward', async (t) => {
  const { sbx, socketPath } = await serving(t)
  assert.deepEqual(await sbx.listPorts(), [{ port: 8000, unixSocket: socketPath, host: undefined }])
  const host = await sbx.getHost(8000)
  assert.match(host, /^127\.0\.0\.1:[1-9]\d*$/)
  assert.equal(await sbx.getHost(8000), host)
  assert.deepEqual(await sbx.listPorts(), [{ port: 8000, unixSocket: socketPath, host }])
  assert.equal(await sbx.closePort(8000), true)
  assert.equal(existsSync(socketPath), false)
  assert.deepEqual(await sbx.listPorts(), [])
  assert.equal(await sbx.closePort(8000), false)
  // Forwarded again, it answers again.
  assert.equal((await getOverSocket(await sbx.getPortSocket(8000))).status, 200)
})

test('forwards end with the sandbox', async (t) => {
  const { sbx, socketPath } = await serving(t)
  await sbx.kill()
  assert.equal(existsSync(socketPath), false)
})

test('a sandbox without inet sockets is refused by name, and bad ports before any request', async (t) => {
  const sbx = await sandbox(t)
  await assert.rejects(sbx.getHost(8000), (error) => error instanceof ConflictError && /loopback_inet/.test(error.message))
  await assert.rejects(sbx.getPortSocket(8000), ConflictError)
  for (const bad of [0, 65536, 80.5, Number.NaN]) {
    await assert.rejects(sbx.getPortSocket(bad), InvalidArgumentError)
  }
})
