// What the parts of a Sandbox (commands, files, handles) need to call the daemon about it.

import { sandboxRoute } from './models.js'
import type { Transport } from './transport.js'

export interface RequestOpts {
  /** How long to wait for the daemon (ms without any data); 0 for no limit. */
  requestTimeoutMs?: number
  /** Aborts the request. */
  signal?: AbortSignal
}

export class SandboxContext {
  readonly route: string

  constructor(
    readonly transport: Transport,
    readonly sandboxId: string,
    public requestTimeoutMs: number,
  ) {
    this.route = sandboxRoute(sandboxId)
  }

  /** The socket timeout of one call: its own, else the sandbox's default. */
  timeout(opts?: RequestOpts): number {
    return opts?.requestTimeoutMs ?? this.requestTimeoutMs
  }
}
