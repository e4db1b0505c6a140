// CommandHandle: a process started through the API and its live output, read from its event
// stream (docs/api.md, "Live output"): a background command's GET .../commands/{pid}/stream, or
// a foreground command's POST .../commands/stream when it has output callbacks.

import type { RequestOpts, SandboxContext } from './context.js'
import {
  CommandExitError,
  type CommandResult,
  ConnectionError,
  SandboxError,
  SandboxNotRunningError,
  TimeoutError,
} from './errors.js'
import { exitError } from './models.js'
import type { EventStream, SseEvent } from './sse.js'
import { closeStdin, killProcess, sendStdin } from './processes.js'

export type OutputCallback = (data: string) => void | Promise<void>

/** One stream's bytes decoded as UTF-8 across event boundaries. */
class Capture {
  text = ''
  private readonly decoder = new TextDecoder('utf-8')

  add(bytes: Uint8Array): string {
    const text = this.decoder.decode(bytes, { stream: true })
    this.text += text
    return text
  }

  /** What an incomplete character left in the decoder becomes (U+FFFD), at a gap or the end. */
  flush(): string {
    const text = this.decoder.decode()
    this.text += text
    return text
  }
}

function eventBytes(data: Record<string, any>): Uint8Array {
  if (typeof data.data_base64 === 'string') return Buffer.from(data.data_base64, 'base64')
  return Buffer.from(String(data.data ?? ''), 'utf8')
}

/**
 * A running command, from `commands.run(cmd, {background: true})` or `commands.connect(pid)`.
 *
 * It reads the command's output from the start (what the daemon still buffers, then live) as
 * soon as it exists: `stdout` and `stderr` grow as it arrives, the callbacks get each chunk.
 * `wait()` resolves with the CommandResult once it has exited (CommandExitError for a
 * non-zero exit). `kill()`, `sendStdin()`, `closeStdin()` act on the process; `disconnect()`
 * stops reading and leaves it running.
 *
 * An open handle does not keep Node running by itself (a server started in the background
 * would otherwise hold a script open forever); while a `wait()` is pending it does.
 */
export class CommandHandle {
  private _pid?: number
  private readonly out = new Capture()
  private readonly err = new Capture()
  private exit?: Record<string, any>
  private failure?: Error
  private disconnected = false
  private lost = 0
  private waiters = 0
  private readonly done: Promise<void>

  /** @internal */
  constructor(
    private readonly sandbox: SandboxContext,
    pid: number | undefined,
    private readonly stream: EventStream,
    private readonly what: string,
    private readonly onStdout?: OutputCallback,
    private readonly onStderr?: OutputCallback,
    keepAlive = false,
  ) {
    this._pid = pid
    this.stream.ref(keepAlive)
    this.done = this.follow()
  }

  /** The process id inside the sandbox. */
  get pid(): number {
    return this._pid ?? -1
  }

  /** The stdout received so far. */
  get stdout(): string {
    return this.out.text
  }

  /** The stderr received so far. */
  get stderr(): string {
    return this.err.text
  }

  /** The exit code once the process has exited, else undefined. */
  get exitCode(): number | undefined {
    const code = this.exit?.exit_code
    return typeof code === 'number' ? code : undefined
  }

  /** Why the process did not exit by itself ("killed by signal 9"), once known. */
  get error(): string | undefined {
    return this.exit ? exitError(this.exit.signal, Boolean(this.exit.oom_killed)) : undefined
  }

  /**
   * Output the daemon dropped because this handle read slower than the process wrote (beyond
   * its ring buffer, `output_buffer_bytes`): the stream's `lost` events, summed.
   */
  get lostBytes(): number {
    return this.lost
  }

  /**
   * Waits until the process has exited and returns its CommandResult. Throws CommandExitError
   * for a non-zero exit, TimeoutError when its `timeoutMs` killed it, SandboxNotRunningError
   * when the sandbox ended under it, and the error of a callback that threw.
   */
  async wait(): Promise<CommandResult> {
    const result = await this.result()
    if (result.exitCode !== 0) {
      throw new CommandExitError(result, this.what, { sandboxId: this.sandbox.sandboxId })
    }
    return result
  }

  /** The result without throwing for a non-zero exit. @internal */
  async result(): Promise<CommandResult> {
    this.waiters++
    this.stream.ref(true)
    try {
      await this.done
    } finally {
      if (--this.waiters === 0) this.stream.ref(false)
    }
    if (this.failure) throw this.failure
    const exit = this.exit
    const sandboxId = this.sandbox.sandboxId
    if (!exit) {
      throw new SandboxError(
        `disconnected from ${this.what} before it ended: it keeps running; ` +
          `commands.connect(${this.pid}) attaches again`,
        { sandboxId },
      )
    }
    if (exit.exit_code === null || exit.exit_code === undefined) {
      throw new SandboxNotRunningError(`${this.what} did not finish: ${exit.error || 'the sandbox ended'}`, {
        sandboxId,
        code: 'conflict',
      })
    }
    if (exit.timed_out) {
      throw new TimeoutError(
        `${this.what} ran past its timeout and was killed (give it a larger timeoutMs, or 0 for none)`,
        { sandboxId, code: 'timeout', stdout: this.stdout, stderr: this.stderr, exitCode: exit.exit_code },
      )
    }
    return { exitCode: exit.exit_code, error: this.error, stdout: this.stdout, stderr: this.stderr }
  }

  /**
   * Stops reading the output and closes the stream's connection. The process runs on;
   * `commands.connect(pid)` attaches again. wait() then throws.
   */
  async disconnect(): Promise<void> {
    this.disconnected = true
    this.stream.close()
  }

  /** SIGKILL to the process group: true (also when it had already exited), false when the daemon does not know the pid. */
  async kill(opts?: RequestOpts): Promise<boolean> {
    return killProcess(this.sandbox, this.pid, opts)
  }

  /** Writes DATA (text, or bytes sent exactly) to the process's stdin. */
  async sendStdin(data: string | Uint8Array, opts?: RequestOpts): Promise<void> {
    return sendStdin(this.sandbox, this.pid, data, opts)
  }

  /** Closes the process's stdin: it reads EOF once what was sent has been read. */
  async closeStdin(opts?: RequestOpts): Promise<void> {
    return closeStdin(this.sandbox, this.pid, opts)
  }

  private async follow(): Promise<void> {
    try {
      for await (const event of this.stream) {
        await this.apply(event)
        if (this.exit) break
      }
      if (!this.exit && !this.disconnected) {
        this.failure = new ConnectionError(
          `the output stream of ${this.what} ended before the process did: is declawd still ` +
            `running? (commands.connect(${this.pid}) attaches again)`,
          { sandboxId: this.sandbox.sandboxId },
        )
      }
    } catch (error) {
      if (!this.disconnected) this.failure = error as Error
      this.stream.close()
    } finally {
      this.stream.close()
    }
  }

  private async apply({ event, data }: SseEvent): Promise<void> {
    switch (event) {
      case 'start':
        if (this._pid === undefined && typeof data.pid === 'number') this._pid = data.pid
        return
      case 'stdout':
      case 'pty':
        return this.deliver(this.onStdout, this.out.add(eventBytes(data)))
      case 'stderr':
        return this.deliver(this.onStderr, this.err.add(eventBytes(data)))
      case 'lost': {
        this.lost += Number(data.bytes ?? 0)
        // The gap cuts any character in progress.
        if (data.stream === 'stderr') return this.deliver(this.onStderr, this.err.flush())
        return this.deliver(this.onStdout, this.out.flush())
      }
      case 'exit':
        await this.deliver(this.onStdout, this.out.flush())
        await this.deliver(this.onStderr, this.err.flush())
        this.exit = data
        return
      default:
        // Events newer than this SDK are ignored.
        return
    }
  }

  private async deliver(callback: OutputCallback | undefined, text: string): Promise<void> {
    if (text && callback && !this.disconnected) await callback(text)
  }
}
