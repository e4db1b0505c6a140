// Commands: foreground, streamed, background, stdin, timeouts and processes, against the real daemon.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { CommandExitError, CommandHandle, NotFoundError, Sandbox, SandboxError, TimeoutError } from 'declaw'

let sbx
before(async () => {
  sbx = await Sandbox.create({ allowInternetAccess: false, timeoutMs: 300_000 })
})
after(async () => {
  await sbx.kill()
})

describe('foreground', () => {
  test('a command returns its stdout, stderr and exit code 0', async () => {
    const result = await sbx.commands.run('echo out; echo err >&2')
    assert.deepEqual(result, { exitCode: 0, error: undefined, stdout: 'out\n', stderr: 'err\n' })
  })

  test('a non-zero exit throws CommandExitError carrying the whole result, as E2B does', async () => {
    await assert.rejects(sbx.commands.run('echo partial; echo bad >&2; exit 3'), (e) => {
      assert.ok(e instanceof CommandExitError && e instanceof SandboxError)
      assert.equal(e.exitCode, 3)
      assert.equal(e.stdout, 'partial\n')
      assert.equal(e.stderr, 'bad\n')
      assert.match(e.message, /exited with code 3: bad/)
      return true
    })
  })

  test('envs, cwd, user and stdin reach the command', async () => {
    const result = await sbx.commands.run('echo "$A $B" && pwd && id -u && cat', {
      envs: { A: 'one', B: 'two words' },
      cwd: '/tmp',
      user: 'root',
      stdin: 'from stdin',
    })
    assert.equal(result.stdout, 'one two words\n/tmp\n0\nfrom stdin')
    assert.equal((await sbx.commands.run('id -un; pwd')).stdout, 'user\n/home/user\n')
  })

  test('an argv runs without a shell', async () => {
    const result = await sbx.commands.run(['printf', '%s|', 'a b', '$HOME'])
    assert.equal(result.stdout, 'a b|$HOME|')
  })

  test('a command past its timeoutMs is killed and throws TimeoutError with its output so far', async () => {
    const started = Date.now()
    await assert.rejects(sbx.commands.run('echo before; sleep 30', { timeoutMs: 1_000 }), (e) => {
      assert.ok(e instanceof TimeoutError, `${e.name}: ${e.message}`)
      assert.equal(e.stdout, 'before\n')
      return true
    })
    assert.ok(Date.now() - started < 10_000)
  })

  test('a signal is a CommandExitError with 128+N and says which signal', async () => {
    await assert.rejects(sbx.commands.run('kill -TERM $$'), (e) => {
      assert.equal(e.exitCode, 143)
      assert.equal(e.error, 'killed by signal 15')
      return true
    })
  })
})

describe('streamed output', () => {
  test('onStdout and onStderr get the output in pieces as it comes, and the result has all of it', async () => {
    const out = []
    const err = []
    const times = []
    const result = await sbx.commands.run('for i in 1 2 3; do echo line$i; echo warn$i >&2; sleep 0.3; done', {
      onStdout: (data) => {
        out.push(data)
        times.push(Date.now())
      },
      onStderr: (data) => err.push(data),
    })
    assert.equal(out.join(''), 'line1\nline2\nline3\n')
    assert.equal(err.join(''), 'warn1\nwarn2\nwarn3\n')
    assert.ok(out.length >= 3, `stdout came in ${out.length} pieces`)
    assert.ok(times[times.length - 1] - times[0] >= 400, 'the pieces came as they were written, not at the end')
    assert.equal(result.stdout, 'line1\nline2\nline3\n')
    assert.equal(result.stderr, 'warn1\nwarn2\nwarn3\n')
    assert.equal(result.exitCode, 0)
  })

  test('async callbacks are awaited, and bytes that are not UTF-8 become U+FFFD', async () => {
    const seen = []
    const result = await sbx.commands.run("printf 'a\\377b\\n'; printf '\\342\\202'; printf '\\254\\n'", {
      onStdout: async (data) => {
        await new Promise((resolve) => setTimeout(resolve, 10))
        seen.push(data)
      },
    })
    assert.equal(result.stdout, 'a\ufffdb\n\u20ac\n')
    assert.equal(seen.join(''), result.stdout)
  })

  test('a non-zero exit and a timeout throw as in the foreground', async () => {
    const onStdout = () => {}
    await assert.rejects(sbx.commands.run('echo x; exit 7', { onStdout }), (e) => e instanceof CommandExitError && e.exitCode === 7 && e.stdout === 'x\n')
    await assert.rejects(sbx.commands.run('echo y; sleep 30', { onStdout, timeoutMs: 1_000 }), (e) => e instanceof TimeoutError && e.stdout === 'y\n')
  })

  test('an error thrown by a callback is what run() throws', async () => {
    const boom = new Error('callback failed')
    await assert.rejects(
      sbx.commands.run('echo hi', {
        onStdout: () => {
          throw boom
        },
      }),
      (e) => e === boom,
    )
  })
})

describe('background', () => {
  test('a handle has the pid at once; wait() gives the result, with the callbacks called on the way', async () => {
    const pieces = []
    const handle = await sbx.commands.run('sleep 0.3; echo done; echo note >&2', {
      background: true,
      onStdout: (data) => pieces.push(data),
    })
    assert.ok(handle instanceof CommandHandle)
    assert.ok(handle.pid > 0)
    assert.equal(handle.exitCode, undefined)
    const listed = await sbx.commands.list()
    assert.ok(listed.some((p) => p.pid === handle.pid && p.running), JSON.stringify(listed))
    const result = await handle.wait()
    assert.deepEqual(result, { exitCode: 0, error: undefined, stdout: 'done\n', stderr: 'note\n' })
    assert.equal(handle.stdout, 'done\n')
    assert.equal(handle.exitCode, 0)
    assert.equal(pieces.join(''), 'done\n')
    assert.ok(!(await sbx.commands.list()).some((p) => p.pid === handle.pid))
  })

  test('stdin can be sent to a background command and closed', async () => {
    const handle = await sbx.commands.run('cat; echo end', { background: true })
    await sbx.commands.sendStdin(handle.pid, 'first ')
    await handle.sendStdin(new Uint8Array([0x73, 0x65, 0x63, 0x6f, 0x6e, 0x64, 0x0a]))
    await handle.closeStdin()
    const result = await handle.wait()
    assert.equal(result.stdout, 'first second\nend\n')
  })

  test('kill() ends it: wait() throws CommandExitError for SIGKILL', async () => {
    const handle = await sbx.commands.run('echo started; sleep 60', { background: true })
    const started = Date.now()
    while (!handle.stdout && Date.now() - started < 5_000) await new Promise((r) => setTimeout(r, 50))
    assert.equal(await handle.kill(), true)
    await assert.rejects(handle.wait(), (e) => {
      assert.ok(e instanceof CommandExitError)
      assert.equal(e.exitCode, 137)
      assert.equal(e.error, 'killed by signal 9')
      assert.equal(e.stdout, 'started\n')
      return true
    })
    assert.ok(Date.now() - started < 10_000)
  })

  test('commands.kill by pid; an unknown pid is false', async () => {
    const handle = await sbx.commands.run('sleep 60', { background: true })
    assert.equal(await sbx.commands.kill(handle.pid), true)
    await assert.rejects(handle.wait(), CommandExitError)
    assert.equal(await sbx.commands.kill(999_999), false)
  })

  test('connect attaches to a running process and gets its output from the start', async () => {
    const handle = await sbx.commands.run('echo early; sleep 0.5; echo late', { background: true })
    await handle.disconnect()
    await assert.rejects(handle.wait(), SandboxError)
    const again = await sbx.commands.connect(handle.pid)
    const result = await again.wait()
    assert.equal(result.stdout, 'early\nlate\n')
    await assert.rejects(sbx.commands.connect(999_999), NotFoundError)
  })

  test("a background command has no timeout unless given one, and then it is killed at it", async () => {
    const handle = await sbx.commands.run('sleep 30', { background: true, timeoutMs: 1_000 })
    await assert.rejects(handle.wait(), TimeoutError)
  })
})
