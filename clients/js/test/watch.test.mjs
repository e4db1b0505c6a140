// files.watchDir against the real daemon (GET .../files/watch).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import {
  FileNotFoundError,
  FilesystemEventType,
  InvalidArgumentError,
  Sandbox,
  SandboxNotRunningError,
  TimeoutError,
  WatchHandle,
} from 'declaw'

let sbx
before(async () => {
  sbx = await Sandbox.create({ allowInternetAccess: false, timeoutMs: 300_000 })
})
after(async () => {
  await sbx.kill()
})

/** Waits until PREDICATE holds (checked every 20 ms), at most 10 s. */
async function until(predicate, what) {
  const deadline = Date.now() + 10_000
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

const has = (events, type, name) => events.some((e) => e.type === type && e.name === name)

test('changes in the directory come as events named relative to it', async () => {
  await sbx.files.makeDir('/home/user/watched')
  const events = []
  const handle = await sbx.files.watchDir('/home/user/watched', (event) => events.push(event))
  assert.ok(handle instanceof WatchHandle)
  await sbx.commands.run('cd ~/watched && echo one > a.txt && chmod 600 a.txt && mv a.txt b.txt && rm b.txt')
  await until(() => has(events, FilesystemEventType.REMOVE, 'b.txt'), 'the remove event')
  assert.ok(has(events, 'create', 'a.txt'), JSON.stringify(events))
  assert.ok(has(events, 'write', 'a.txt'), JSON.stringify(events))
  assert.ok(has(events, 'chmod', 'a.txt'), JSON.stringify(events))
  assert.ok(events.some((e) => e.type === 'rename'), JSON.stringify(events))
  await handle.stop()
  assert.equal(handle.endReason, 'stopped')
  // Nothing is delivered after stop().
  const count = events.length
  await sbx.files.write('/home/user/watched/late.txt', 'late')
  await new Promise((resolve) => setTimeout(resolve, 300))
  assert.equal(events.length, count)
})

test('a recursive watch sees subdirectories, also new ones; a plain one does not', async () => {
  await sbx.files.makeDir('/tmp/rec/old')
  const deep = []
  const flat = []
  const recursive = await sbx.files.watchDir('/tmp/rec', (e) => deep.push(e), { recursive: true })
  const plain = await sbx.files.watchDir('/tmp/rec', (e) => flat.push(e))
  await sbx.files.write('/tmp/rec/old/x.txt', 'x')
  await sbx.files.makeDir('/tmp/rec/new')
  await until(() => deep.some((e) => e.name === 'new'), 'the new directory')
  await new Promise((resolve) => setTimeout(resolve, 200)) // the daemon adds the new watch
  await sbx.files.write('/tmp/rec/new/y.txt', 'y')
  await until(() => deep.some((e) => e.name === 'new/y.txt'), 'a file in the new directory')
  assert.ok(deep.some((e) => e.name === 'old/x.txt'), JSON.stringify(deep))
  assert.ok(flat.some((e) => e.name === 'new'), JSON.stringify(flat))
  assert.ok(!flat.some((e) => e.name.includes('/')), JSON.stringify(flat))
  await recursive.stop()
  await plain.stop()
})

test('a missing path is FileNotFoundError, a file InvalidArgumentError', async () => {
  await assert.rejects(sbx.files.watchDir('/tmp/no-such-dir', () => {}), FileNotFoundError)
  await sbx.files.write('/tmp/plain-file', 'x')
  await assert.rejects(sbx.files.watchDir('/tmp/plain-file', () => {}), InvalidArgumentError)
})

test('the watch ends by itself: at its timeoutMs, when the directory goes, when the sandbox ends', async () => {
  const exits = {}
  const record = (name) => (error) => {
    exits[name] = error ?? null
  }
  const timed = await sbx.files.watchDir('/tmp', () => {}, { timeoutMs: 300, onExit: record('timeout') })
  await sbx.files.makeDir('/tmp/doomed')
  const removed = await sbx.files.watchDir('/tmp/doomed', () => {}, { onExit: record('removed') })
  await sbx.files.remove('/tmp/doomed')
  await until(() => 'timeout' in exits && 'removed' in exits, 'the timeout and the removal')
  assert.ok(exits.timeout instanceof TimeoutError, String(exits.timeout))
  assert.equal(timed.endReason, 'timeout')
  assert.equal(exits.removed, null)
  assert.equal(removed.endReason, 'removed')

  const other = await Sandbox.create({ allowInternetAccess: false, timeoutMs: 60_000 })
  const ended = await other.files.watchDir('/tmp', () => {}, { onExit: record('ended') })
  await other.kill()
  await until(() => 'ended' in exits, 'the end of the sandbox')
  assert.ok(exits.ended instanceof SandboxNotRunningError, String(exits.ended))
  assert.equal(ended.endReason, 'sandbox_ended')
})
