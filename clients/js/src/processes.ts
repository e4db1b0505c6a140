// The calls on one process of a sandbox (/v1/sandboxes/{id}/commands/{pid}...), shared by
// sbx.commands and the command handles.

import type { RequestOpts, SandboxContext } from './context.js'
import { NotFoundError } from './errors.js'

export function processRoute(sandbox: SandboxContext, pid: number, tail = ''): string {
  return `${sandbox.route}/commands/${Math.trunc(pid)}${tail}`
}

/** SIGKILL to the process's group: false when the daemon does not know the pid. */
export async function killProcess(sandbox: SandboxContext, pid: number, opts?: RequestOpts): Promise<boolean> {
  try {
    await sandbox.transport.request({
      method: 'DELETE',
      path: processRoute(sandbox, pid),
      timeoutMs: sandbox.timeout(opts),
      sandboxId: sandbox.sandboxId,
      signal: opts?.signal,
    })
    return true
  } catch (error) {
    if (error instanceof NotFoundError) return false
    throw error
  }
}

/** The body of POST .../stdin: text as it is, bytes base64-encoded (exact). */
export function stdinPayload(data: string | Uint8Array): Record<string, string> {
  if (typeof data === 'string') return { data }
  return { data_base64: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64') }
}

export async function sendStdin(
  sandbox: SandboxContext,
  pid: number,
  data: string | Uint8Array,
  opts?: RequestOpts,
): Promise<void> {
  await sandbox.transport.request({
    method: 'POST',
    path: processRoute(sandbox, pid, '/stdin'),
    json: stdinPayload(data),
    timeoutMs: sandbox.timeout(opts),
    sandboxId: sandbox.sandboxId,
    signal: opts?.signal,
  })
}

export async function closeStdin(sandbox: SandboxContext, pid: number, opts?: RequestOpts): Promise<void> {
  await sandbox.transport.request({
    method: 'DELETE',
    path: processRoute(sandbox, pid, '/stdin'),
    timeoutMs: sandbox.timeout(opts),
    sandboxId: sandbox.sandboxId,
    signal: opts?.signal,
  })
}
