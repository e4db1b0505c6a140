// WatchHandle: a directory watched inside the sandbox (GET .../files/watch, an event stream:
// `start`, then `fs` per change, `lost` when events were dropped, and `end`).

import { SandboxError, SandboxNotRunningError, TimeoutError } from './errors.js'
import type { EventStream, SseEvent } from './sse.js'

/** E2B's event types, as values (`FilesystemEventType.CREATE === 'create'`). */
export const FilesystemEventType = {
  CHMOD: 'chmod',
  CREATE: 'create',
  REMOVE: 'remove',
  RENAME: 'rename',
  WRITE: 'write',
} as const
export type FilesystemEventType = (typeof FilesystemEventType)[keyof typeof FilesystemEventType]

export interface FilesystemEvent {
  /** The path relative to the watched directory. */
  name: string
  type: FilesystemEventType
}

export type WatchEndReason = 'removed' | 'sandbox_ended' | 'error' | 'stopped' | 'timeout' | 'disconnected'

/**
 * A watch of a directory, from `files.watchDir()`. `onEvent` is called for each change as it
 * comes; `stop()` ends the watch (closing the connection stops it in the sandbox). It ends by
 * itself after its `timeoutMs`, when the directory is removed, or when the sandbox ends; then
 * `onExit` is called once, with the error when it ended by one.
 *
 * An open watch keeps Node running (until stop() or its timeout).
 */
export class WatchHandle {
  private stopped = false
  private timer?: NodeJS.Timeout
  private _endReason?: WatchEndReason
  private _lost = false
  private readonly done: Promise<void>

  /** @internal */
  constructor(
    private readonly stream: EventStream,
    private readonly events: AsyncIterator<SseEvent>,
    private readonly what: string,
    private readonly sandboxId: string,
    private readonly onEvent: (event: FilesystemEvent) => void | Promise<void>,
    private readonly onExit: ((error?: Error) => void | Promise<void>) | undefined,
    timeoutMs: number,
  ) {
    if (timeoutMs > 0) {
      this.timer = setTimeout(() => this.end('timeout'), timeoutMs)
    }
    this.done = this.follow()
  }

  /** Stops watching. The promise resolves once the watch has ended (and onExit was called). */
  async stop(): Promise<void> {
    this.end('stopped')
    await this.done
  }

  /** Why the watch ended, once it has: removed, sandbox_ended, error, stopped, timeout, disconnected. */
  get endReason(): WatchEndReason | undefined {
    return this._endReason
  }

  /** True when the daemon dropped events (the sandbox changed faster than they were read). */
  get lostEvents(): boolean {
    return this._lost
  }

  private end(reason: WatchEndReason): void {
    if (this.stopped) return
    this.stopped = true
    this._endReason ??= reason
    clearTimeout(this.timer)
    this.stream.close()
  }

  private async follow(): Promise<void> {
    let error: Error | undefined
    try {
      for (;;) {
        const next = await this.events.next()
        if (next.done) break
        const { event, data } = next.value
        if (event === 'fs') {
          if (!this.stopped) await this.onEvent({ name: String(data.name ?? ''), type: data.type })
        } else if (event === 'lost') {
          this._lost = true
        } else if (event === 'end') {
          const reason = String(data.reason ?? 'error')
          this._endReason ??= reason as WatchEndReason
          if (reason === 'sandbox_ended') {
            error = new SandboxNotRunningError(`${this.what} ended: the sandbox ended`, { sandboxId: this.sandboxId })
          } else if (reason !== 'removed') {
            error = new SandboxError(`${this.what} failed: ${data.message || reason}`, { sandboxId: this.sandboxId })
          }
          break
        }
      }
      if (!this._endReason && !this.stopped) {
        this._endReason = 'disconnected'
        error = new SandboxError(`${this.what}: the stream ended before the watch did: is declawd still running?`, {
          sandboxId: this.sandboxId,
        })
      }
    } catch (e) {
      if (!this.stopped) {
        error = e as Error
        this._endReason ??= 'error'
      }
    }
    if (this._endReason === 'timeout') {
      error = new TimeoutError(`${this.what} reached its timeoutMs and was stopped`, { sandboxId: this.sandboxId })
    }
    this.end(this._endReason ?? 'stopped')
    try {
      await this.onExit?.(error)
    } catch {
      // onExit is the last callback: an error it throws has nowhere to go (as in E2B's SDK).
    }
  }
}
