// Files: text and binary roundtrips, listings, metadata and typed errors, against the real daemon.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import {
  ConflictError,
  FileNotFoundError,
  FileType,
  NotFoundError,
  PermissionDeniedError,
  Sandbox,
  SandboxNotFoundError,
} from 'declaw'

let sbx
before(async () => {
  sbx = await Sandbox.create({ allowInternetAccess: false, timeoutMs: 300_000 })
})
after(async () => {
  await sbx.kill()
})

const ALL_BYTES = new Uint8Array(256).map((_, i) => i)

test('text is written, read back, and seen by commands', async () => {
  const info = await sbx.files.write('/home/user/dir/notes.txt', 'h\u00e9llo\n')
  assert.equal(info.path, '/home/user/dir/notes.txt')
  assert.equal(info.name, 'notes.txt')
  assert.equal(info.type, FileType.FILE)
  assert.equal(info.size, 7)
  assert.equal(await sbx.files.read('/home/user/dir/notes.txt'), 'h\u00e9llo\n')
  assert.equal(await sbx.files.read('dir/notes.txt'), 'h\u00e9llo\n', 'relative to /home/user')
  assert.equal((await sbx.commands.run('cat ~/dir/notes.txt')).stdout, 'h\u00e9llo\n')
})

test('every byte value survives a roundtrip, from a Uint8Array, an ArrayBuffer, a Buffer and a Blob', async () => {
  const sources = {
    uint8: ALL_BYTES,
    arraybuffer: ALL_BYTES.slice().buffer,
    buffer: Buffer.from(ALL_BYTES),
    blob: new Blob([ALL_BYTES]),
    view: new DataView(ALL_BYTES.buffer),
  }
  for (const [name, data] of Object.entries(sources)) {
    const info = await sbx.files.write(`/tmp/bytes-${name}`, data)
    assert.equal(info.size, 256, name)
    const back = await sbx.files.read(`/tmp/bytes-${name}`, { format: 'bytes' })
    assert.ok(back instanceof Uint8Array)
    assert.deepEqual(Buffer.from(back), Buffer.from(ALL_BYTES), name)
  }
  const sum = await sbx.commands.run('sha256sum < /tmp/bytes-uint8')
  assert.match(sum.stdout, /^40aff2e9d2d8922e47afd4648e6967497158785fbd1da870e7110266bf944880 /)
  const blob = await sbx.files.read('/tmp/bytes-uint8', { format: 'blob' })
  assert.deepEqual(new Uint8Array(await blob.arrayBuffer()), ALL_BYTES)
})

test('a stream is uploaded in chunks and can be read as a stream', async () => {
  const chunk = new Uint8Array(64 * 1024).fill(0x61)
  let sent = 0
  const upload = new ReadableStream({
    pull(controller) {
      if (sent === 16) return controller.close()
      sent++
      controller.enqueue(chunk)
    },
  })
  const info = await sbx.files.write('/tmp/streamed', upload)
  assert.equal(info.size, 16 * 64 * 1024)
  const stream = await sbx.files.read('/tmp/streamed', { format: 'stream' })
  let total = 0
  for await (const piece of stream) total += piece.byteLength
  assert.equal(total, 16 * 64 * 1024)
})

test('an array of entries is written file by file', async () => {
  const infos = await sbx.files.write([
    { path: '/tmp/many/a.txt', data: 'A' },
    { path: '/tmp/many/b.bin', data: new Uint8Array([0, 255]) },
  ])
  assert.deepEqual(infos.map((i) => [i.path, i.size]), [['/tmp/many/a.txt', 1], ['/tmp/many/b.bin', 2]])
  const written = await sbx.files.writeFiles([{ path: '/tmp/many/c.txt', data: 'C' }])
  assert.equal(written.length, 1)
})

test('list, exists, getInfo, rename, makeDir and remove', async () => {
  assert.equal(await sbx.files.makeDir('/tmp/tree/sub'), true)
  assert.equal(await sbx.files.makeDir('/tmp/tree/sub'), false)
  await sbx.files.write('/tmp/tree/one.txt', '1')
  await sbx.files.write('/tmp/tree/sub/two.txt', '22')
  const top = await sbx.files.list('/tmp/tree')
  assert.deepEqual(top.map((e) => [e.name, e.type]).sort(), [['one.txt', 'file'], ['sub', 'dir']])
  const deep = await sbx.files.list('/tmp/tree', { depth: 2 })
  assert.ok(deep.some((e) => e.path === '/tmp/tree/sub/two.txt' && e.size === 2))

  assert.equal(await sbx.files.exists('/tmp/tree/one.txt'), true)
  assert.equal(await sbx.files.exists('/tmp/tree/none.txt'), false)
  const dir = await sbx.files.getInfo('/tmp/tree/sub')
  assert.equal(dir.type, FileType.DIR)
  assert.equal(dir.owner, 'user')
  assert.ok(dir.modifiedTime instanceof Date)

  const moved = await sbx.files.rename('/tmp/tree/one.txt', '/tmp/tree/sub/uno.txt')
  assert.equal(moved.path, '/tmp/tree/sub/uno.txt')
  assert.equal(await sbx.files.exists('/tmp/tree/one.txt'), false)
  await assert.rejects(sbx.files.makeDir('/tmp/tree/sub/uno.txt'), ConflictError)

  await sbx.files.remove('/tmp/tree')
  assert.equal(await sbx.files.exists('/tmp/tree'), false)
})

test('a missing path is a FileNotFoundError (a NotFoundError); an unknown sandbox a SandboxNotFoundError', async () => {
  for (const call of [
    () => sbx.files.read('/tmp/missing'),
    () => sbx.files.read('/tmp/missing', { format: 'bytes' }),
    () => sbx.files.read('/tmp/missing', { format: 'stream' }),
    () => sbx.files.remove('/tmp/missing'),
    () => sbx.files.getInfo('/tmp/missing'),
    () => sbx.files.list('/tmp/missing'),
    () => sbx.files.rename('/tmp/missing', '/tmp/other'),
  ]) {
    await assert.rejects(call(), (e) => {
      assert.ok(e instanceof FileNotFoundError && e instanceof NotFoundError, `${e.name}: ${e.message}`)
      assert.equal(e.status, 404)
      assert.equal(e.sandboxId, sbx.sandboxId)
      return true
    })
  }
  const ghost = new Sandbox({ sandboxId: 'sbx-doesnotexist' })
  await assert.rejects(ghost.files.write('/tmp/x', 'x'), SandboxNotFoundError)
  await assert.rejects(ghost.files.getInfo('/tmp/x'), SandboxNotFoundError)
  await assert.rejects(ghost.files.exists('/tmp/x'), SandboxNotFoundError)
})

test("files act as the sandbox's user: root's home is root's", async () => {
  await assert.rejects(sbx.files.write('/root/secret', 'x'), PermissionDeniedError)
  const info = await sbx.files.write('/root/secret', 'x', { user: 'root' })
  assert.equal(info.owner, 'root')
  assert.equal(await sbx.files.read('/root/secret', { user: 'root' }), 'x')
})
