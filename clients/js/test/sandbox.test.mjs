// Sandboxes: create, info, list, connect, timeouts and kill, against the real daemon.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import Default, {
  ConnectionError,
  InvalidArgumentError,
  NotImplementedError,
  Sandbox,
  SandboxError,
  SandboxNotFoundError,
  SandboxNotRunningError,
} from 'declaw'
import { sandbox, sleep } from './support.mjs'

test('the default export is Sandbox, as in E2B', () => {
  assert.equal(Default, Sandbox)
})

test('create takes the options object and says what it made', async (t) => {
  const sbx = await sandbox(t, {
    template: 'python',
    metadata: { suite: 'js', case: 'create' },
    envs: { GREETING: 'hello' },
    resources: { memoryMB: 256, pids: 128 },
  })
  assert.match(sbx.sandboxId, /^sbx-[a-z0-9]+$/)
  const info = await sbx.getInfo()
  assert.equal(info.sandboxId, sbx.sandboxId)
  assert.equal(info.templateId, 'python')
  assert.equal(info.state, 'running')
  assert.equal(info.allowInternetAccess, false)
  assert.deepEqual(info.metadata, { suite: 'js', case: 'create' })
  assert.equal(info.resources.memoryMB, 256)
  assert.equal(info.resources.pids, 128)
  assert.ok(info.startedAt instanceof Date && info.endAt > info.startedAt)
  assert.equal((await sbx.commands.run('echo $GREETING')).stdout, 'hello\n')
  assert.equal(await sbx.isRunning(), true)
})

test("create also takes the template first, as Sandbox.create('python', {...})", async (t) => {
  const sbx = await Sandbox.create('python', { allowInternetAccess: false, timeoutMs: 60_000 })
  t.after(() => sbx.kill())
  assert.equal((await sbx.getInfo()).templateId, 'python')
  assert.equal((await sbx.commands.run('python3 -c "print(6 * 7)"')).stdout, '42\n')
})

test('allowInternetAccess defaults to true as in E2B: a daemon without networking answers NotImplementedError', async () => {
  await assert.rejects(Sandbox.create({ timeoutMs: 10_000 }), (e) => {
    assert.ok(e instanceof NotImplementedError && e instanceof SandboxError, `${e.name}: ${e.message}`)
    assert.equal(e.status, 501)
    assert.match(e.message, /internet access is off|network/)
    return true
  })
})

test('a bad template or resource is an InvalidArgumentError; hosted-only options are NotImplementedError', async () => {
  await assert.rejects(Sandbox.create({ template: 'no-such-template', allowInternetAccess: false }), InvalidArgumentError)
  await assert.rejects(Sandbox.create({ allowInternetAccess: false, resources: { memoryMB: 1 } }), (e) => {
    assert.ok(e instanceof InvalidArgumentError)
    assert.match(e.message, /memory_mb/)
    return true
  })
  await assert.rejects(Sandbox.create({ allowInternetAccess: false, mcp: {} }), NotImplementedError)
  await assert.rejects(Sandbox.create({ allowInternetAccess: false, network: { rules: {} } }), NotImplementedError)
})

test('network rules are kept (and everything denied) on a sandbox without internet access', async (t) => {
  const sbx = await sandbox(t, { network: { allowOut: ['example.com'], denyOut: (ctx) => [ctx.allTraffic] } })
  const info = await sbx.getInfo()
  assert.deepEqual(info.network.allowOut, ['example.com'])
  assert.deepEqual(info.network.denyOut, ['0.0.0.0/0'])
  assert.equal(info.network.address, null)
})

test('list includes a live sandbox, filters by metadata, and drops it once killed', async (t) => {
  const tag = `list-${process.pid}`
  const sbx = await sandbox(t, { metadata: { tag } })
  const other = await sandbox(t, { metadata: { tag: 'other' } })
  const paginator = Sandbox.list()
  assert.equal(paginator.hasNext, true)
  const all = (await paginator.nextItems()).map((i) => i.sandboxId)
  assert.equal(paginator.hasNext, false)
  assert.ok(all.includes(sbx.sandboxId) && all.includes(other.sandboxId))
  const mine = await Sandbox.list({ query: { metadata: { tag } } }).nextItems()
  assert.deepEqual(mine.map((i) => i.sandboxId), [sbx.sandboxId])
  assert.equal((await Sandbox.list({ limit: 1 }).nextItems()).length, 1)

  assert.equal(await sbx.kill(), true)
  const live = (await Sandbox.list().nextItems()).map((i) => i.sandboxId)
  assert.ok(!live.includes(sbx.sandboxId))
  const killed = await Sandbox.list({ query: { metadata: { tag }, state: ['killed'] } }).nextItems()
  assert.deepEqual(killed.map((i) => [i.sandboxId, i.state]), [[sbx.sandboxId, 'killed']])
})

test('connect reaches the same sandbox; unknown and killed ids are typed errors', async (t) => {
  const sbx = await sandbox(t)
  await sbx.files.write('/tmp/mark', 'here')
  const again = await Sandbox.connect(sbx.sandboxId)
  assert.equal(again.sandboxId, sbx.sandboxId)
  assert.equal(await again.files.read('/tmp/mark'), 'here')

  await assert.rejects(Sandbox.connect('sbx-doesnotexist'), SandboxNotFoundError)
  await assert.rejects(Sandbox.getInfo('sbx-doesnotexist'), SandboxNotFoundError)
  await assert.rejects(new Sandbox({ sandboxId: 'sbx-doesnotexist' }).commands.run('true'), SandboxNotFoundError)
  await assert.rejects(new Sandbox({ sandboxId: 'sbx-doesnotexist' }).files.read('/etc/hostname'), SandboxNotFoundError)

  await sbx.kill()
  await assert.rejects(Sandbox.connect(sbx.sandboxId), SandboxNotRunningError)
  await assert.rejects(sbx.commands.run('true'), SandboxNotRunningError)
})

test('kill is true, also a second time, and false for an id the daemon does not know', async (t) => {
  const sbx = await sandbox(t)
  assert.equal(await sbx.kill(), true)
  assert.equal(await sbx.isRunning(), false)
  assert.equal((await sbx.getInfo()).state, 'killed')
  assert.equal(await Sandbox.kill(sbx.sandboxId), true)
  assert.equal(await Sandbox.kill('sbx-doesnotexist'), false)
})

test('setTimeout moves the end; a sandbox whose timeout passes is killed', async (t) => {
  const sbx = await sandbox(t)
  await sbx.setTimeout(3_600_000)
  const info = await sbx.getInfo()
  const left = info.endAt.getTime() - Date.now()
  assert.ok(left > 3_500_000 && left <= 3_601_000, `${left} ms left`)

  await Sandbox.setTimeout(sbx.sandboxId, 1_000)
  const deadline = Date.now() + 15_000
  while ((await sbx.isRunning()) && Date.now() < deadline) await sleep(200)
  assert.equal((await sbx.getInfo()).state, 'killed')
})

test('metrics are the samples the daemon kept, then one taken now', async (t) => {
  const sbx = await sandbox(t)
  const samples = await sbx.getMetrics()
  // The daemon takes one at the create; without `end` a reading of now comes last.
  assert.ok(samples.length >= 2, JSON.stringify(samples))
  const now = samples[samples.length - 1]
  assert.ok(now.memTotal > 0 && now.pidsLimit > 0, JSON.stringify(now))
  assert.ok(samples[0].timestamp <= now.timestamp)
  // With an end, only what was kept; a start in the future keeps nothing.
  const kept = await sbx.getMetrics({ end: new Date() })
  assert.ok(kept.length >= 1 && kept.length <= samples.length)
  const future = await sbx.getMetrics({ start: Math.floor(Date.now() / 1000) + 3600 })
  assert.equal(future.length, 1) // none kept from then on: only the reading of now
  await assert.rejects(sbx.getMetrics({ start: new Date('nonsense') }), InvalidArgumentError)
})

test('without a daemon at the socket, calls fail with a ConnectionError that says so', async () => {
  await assert.rejects(Sandbox.create({ socketPath: '/nonexistent/declaw.sock', allowInternetAccess: false }), (e) => {
    assert.ok(e instanceof ConnectionError, `${e.name}`)
    assert.match(e.message, /cannot reach declawd at \/nonexistent\/declaw\.sock/)
    return true
  })
})
