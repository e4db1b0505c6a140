// runCode: an IPython kernel inside a sandbox without internet access, reached through the bridge
// that the Python SDK ships (embedded at build time), against the real daemon.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, test } from 'node:test'

import { Execution, OutputMessage, Sandbox, TimeoutError } from 'declaw'

let sbx
before(async () => {
  sbx = await Sandbox.create({ template: 'python', allowInternetAccess: false, timeoutMs: 300_000 })
})
after(async () => {
  await sbx.kill()
})

describe('runCode', () => {
  test('state persists and the last expression is the main result', async () => {
    await sbx.runCode('counter = 41')
    const execution = await sbx.runCode('counter += 1\ncounter')
    assert.ok(execution instanceof Execution)
    assert.equal(execution.text, '42')
    assert.equal(execution.error, undefined)
    assert.ok(execution.results[0].isMainResult)
  })

  test('stdout reaches the callback and the logs; an exception is the error', async () => {
    const seen = []
    const printed = await sbx.runCode("print('hello')", { onStdout: (m) => seen.push(m) })
    assert.deepEqual(printed.logs.stdout, ['hello\n'])
    assert.ok(seen[0] instanceof OutputMessage)
    assert.equal(seen[0].line, 'hello\n')
    const errors = []
    const failed = await sbx.runCode('1 / 0', { onError: (e) => errors.push(e) })
    assert.equal(failed.error.name, 'ZeroDivisionError')
    assert.deepEqual(errors, [failed.error])
  })

  test('a large PNG display arrives whole (it travels through a file, not the output ring)', async () => {
    const execution = await sbx.runCode(
      [
        'import base64, hashlib, struct, zlib',
        'from IPython.display import Image, display',
        'def chunk(kind, data):',
        '    body = kind + data',
        '    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))',
        'png = (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))',
        '       + chunk(b"tEXt", b"c\\x00" + bytes(i % 251 for i in range(2 << 20)))',
        '       + chunk(b"IDAT", zlib.compress(b"\\x00\\xff\\x00\\x00")) + chunk(b"IEND", b""))',
        "display(Image(data=png, format='png'))",
        'hashlib.sha256(png).hexdigest()',
      ].join('\n'),
      { timeoutMs: 120_000 },
    )
    assert.equal(execution.error, undefined)
    const [image, main] = execution.results
    assert.ok(image.formats().includes('png'))
    assert.equal(createHash('sha256').update(Buffer.from(image.png, 'base64')).digest('hex'), main.text)
  })

  test('a timeout interrupts the code and the context keeps its variables', async () => {
    await sbx.runCode("kept = 'yes'")
    await assert.rejects(sbx.runCode('import time\ntime.sleep(60)', { timeoutMs: 2000 }), TimeoutError)
    assert.equal((await sbx.runCode('kept')).text, 'yes')
  })

  test('contexts are separate kernels and run at once', async () => {
    const [a, b] = await Promise.all([sbx.createCodeContext(), sbx.createCodeContext({ cwd: '/tmp' })])
    await sbx.runCode('only_a = 1', { context: a })
    const started = Date.now()
    const [inA, inB] = await Promise.all([
      sbx.runCode('import time; time.sleep(2); only_a', { context: a }),
      sbx.runCode('import os, time; time.sleep(2); os.getcwd()', { context: b }),
    ])
    assert.ok(Date.now() - started < 3900)
    assert.equal(inA.text, '1')
    assert.equal(inB.text, '/tmp')
    assert.equal((await sbx.runCode('only_a', { context: b })).error.name, 'NameError')
    assert.ok((await sbx.listCodeContexts()).some((c) => c.id === b.id))
    await sbx.removeCodeContext(b)
    assert.ok(!(await sbx.listCodeContexts()).some((c) => c.id === b.id))
  })

  test('the kernel of a sandbox without internet access cannot open a TCP connection', async () => {
    const execution = await sbx.runCode(
      "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 443), timeout=3)\n    print('connected')\nexcept OSError as e:\n    print('refused', type(e).__name__)",
    )
    assert.match(execution.logs.stdout.join(''), /^refused/)
  })
})
