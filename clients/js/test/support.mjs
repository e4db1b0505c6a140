// Shared by the tests: the daemon they run against (DECLAW_SOCKET, set by
// tests/python/test_js_sdk.py, which starts a test declawd) and sandboxes killed afterwards.
import { Sandbox } from 'declaw'

if (!process.env.DECLAW_SOCKET) {
  throw new Error('DECLAW_SOCKET is not set: run these tests through ctest -R python.js_sdk, which starts a daemon')
}

/** A sandbox without internet access (the test daemon runs without networking), killed after the test (or suite) T. */
export async function sandbox(t, opts = {}) {
  const sbx = await Sandbox.create({ allowInternetAccess: false, timeoutMs: 120_000, ...opts })
  t.after(() => sbx.kill())
  return sbx
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
