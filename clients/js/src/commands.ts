// sbx.commands: running commands in a sandbox and controlling its processes
// (/v1/sandboxes/{id}/commands...; docs/api.md, "Commands").

import { CommandHandle, type OutputCallback } from './commandHandle.js'
import type { RequestOpts, SandboxContext } from './context.js'
import {
  CommandExitError,
  type CommandResult,
  InvalidArgumentError,
  TimeoutError,
} from './errors.js'
import { exitError, type ProcessInfo, processInfo, wholeSeconds } from './models.js'
import { closeStdin, killProcess, processRoute, sendStdin } from './processes.js'
import { EventStream } from './sse.js'

export type Username = 'user' | 'root'

/** How long a foreground command may run unless `timeoutMs` says otherwise (E2B's default). */
export const DEFAULT_COMMAND_TIMEOUT_MS = 60_000
// How much longer than a command's own timeout the SDK waits for the daemon's answer.
const ANSWER_MARGIN_MS = 30_000

export interface CommandStartOpts extends RequestOpts {
  /** Return a CommandHandle as soon as the process runs, instead of waiting for it. */
  background?: boolean
  /** Working directory (default the user's home). */
  cwd?: string
  /** 'user' (uid 1000, the default) or 'root' (the sandbox's root). */
  user?: Username
  /** Environment, over the sandbox's. */
  envs?: Record<string, string>
  /** Called with each piece of stdout as it arrives. */
  onStdout?: OutputCallback
  /** Called with each piece of stderr as it arrives. */
  onStderr?: OutputCallback
  /**
   * Text written to the command's stdin (then closed, in the foreground). `true` (E2B's form)
   * keeps stdin open for sendStdin(): a background command's always is.
   */
  stdin?: string | boolean
  /**
   * The command is killed after this many ms (rounded up to whole seconds); 0 for no limit.
   * Default 60 s in the foreground, none in the background.
   */
  timeoutMs?: number
}

export interface CommandConnectOpts extends RequestOpts {
  onStdout?: OutputCallback
  onStderr?: OutputCallback
}

/** A shell command line (run by `bash -l -c`), or a program and its arguments (no shell). */
export type Command = string | string[]

function commandFields(cmd: Command): Record<string, unknown> {
  if (typeof cmd === 'string') return { cmd }
  if (Array.isArray(cmd) && cmd.length && cmd.every((arg) => typeof arg === 'string')) return { argv: [...cmd] }
  throw new InvalidArgumentError('a command is a string (a shell command line) or a non-empty array of strings (an argv)')
}

function describe(cmd: Command): string {
  const text = typeof cmd === 'string' ? cmd : cmd.join(' ')
  return `command '${text.slice(0, 80)}'`
}

/** Runs commands inside one sandbox and controls its processes. Get it as `sbx.commands`. */
export class Commands {
  /** @internal */
  constructor(private readonly sandbox: SandboxContext) {}

  /**
   * Runs CMD and waits for it: resolves with its CommandResult, throws CommandExitError for a
   * non-zero exit (as E2B's SDK does; the error carries the whole result) and TimeoutError
   * when `timeoutMs` killed it. With `onStdout`/`onStderr` the output is streamed to them as
   * it arrives. With `background: true`, resolves with a CommandHandle once it runs.
   */
  run(cmd: Command, opts?: CommandStartOpts & { background?: false }): Promise<CommandResult>
  run(cmd: Command, opts: CommandStartOpts & { background: true }): Promise<CommandHandle>
  run(cmd: Command, opts?: CommandStartOpts): Promise<CommandHandle | CommandResult>
  async run(cmd: Command, opts: CommandStartOpts = {}): Promise<CommandHandle | CommandResult> {
    const background = Boolean(opts.background)
    const body: Record<string, unknown> = { ...commandFields(cmd), background, user: opts.user ?? 'user' }
    if (opts.envs && Object.keys(opts.envs).length) body.envs = { ...opts.envs }
    if (opts.cwd) body.cwd = opts.cwd
    if (typeof opts.stdin === 'string') body.stdin = opts.stdin
    // A server must not die after the foreground default: unless the caller gave a timeout, a
    // background command gets the daemon's background default (none).
    if (!background || opts.timeoutMs !== undefined) {
      body.timeout = wholeSeconds(opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS)
    }
    const what = describe(cmd)
    if (background) {
      const started = await this.post('/commands', body, this.sandbox.timeout(opts), opts.signal)
      return this.attach(Number(started.pid), what, opts)
    }
    if (opts.onStdout || opts.onStderr) return this.runStreamed(body, what, opts)
    const seconds = body.timeout as number
    const socketTimeout =
      opts.requestTimeoutMs ?? (seconds === 0 ? 0 : Math.max(this.sandbox.requestTimeoutMs, seconds * 1000 + ANSWER_MARGIN_MS))
    const data = await this.post('/commands', body, socketTimeout, opts.signal)
    const result: CommandResult = {
      exitCode: Number(data.exit_code),
      error: exitError(data.signal, Boolean(data.oom_killed)),
      stdout: String(data.stdout ?? ''),
      stderr: String(data.stderr ?? ''),
    }
    if (data.timed_out) throw this.timedOut(what, seconds, result)
    if (result.exitCode !== 0) throw new CommandExitError(result, what, { sandboxId: this.sandbox.sandboxId })
    return result
  }

  /**
   * A CommandHandle on a running (or recently finished) process: it receives what the daemon
   * still buffers of its output, then live output. NotFoundError for an unknown pid.
   */
  async connect(pid: number, opts: CommandConnectOpts = {}): Promise<CommandHandle> {
    return this.attach(pid, `process ${pid}`, opts)
  }

  /** The sandbox's running processes (started through the API), oldest first. */
  async list(opts?: RequestOpts & { all?: boolean }): Promise<ProcessInfo[]> {
    const data = await this.sandbox.transport.json({
      method: 'GET',
      path: this.sandbox.route + '/commands',
      timeoutMs: this.sandbox.timeout(opts),
      sandboxId: this.sandbox.sandboxId,
      signal: opts?.signal,
    })
    const processes = ((data?.processes ?? []) as unknown[]).map(processInfo)
    return opts?.all ? processes : processes.filter((p) => p.running)
  }

  /** SIGKILL to the process's group: true (also when it had already exited), false when the daemon does not know the pid. */
  async kill(pid: number, opts?: RequestOpts): Promise<boolean> {
    return killProcess(this.sandbox, pid, opts)
  }

  /** Writes DATA (text, or bytes sent exactly) to the process's stdin. ConflictError when its stdin is closed or it has exited. */
  async sendStdin(pid: number, data: string | Uint8Array, opts?: RequestOpts): Promise<void> {
    return sendStdin(this.sandbox, pid, data, opts)
  }

  /** Closes the process's stdin: it reads EOF once what was sent has been read. */
  async closeStdin(pid: number, opts?: RequestOpts): Promise<void> {
    return closeStdin(this.sandbox, pid, opts)
  }

  private async post(route: string, body: unknown, timeoutMs: number, signal?: AbortSignal): Promise<any> {
    return this.sandbox.transport.json({
      method: 'POST',
      path: this.sandbox.route + route,
      json: body,
      timeoutMs,
      sandboxId: this.sandbox.sandboxId,
      signal,
    })
  }

  private async attach(pid: number, what: string, opts: CommandConnectOpts): Promise<CommandHandle> {
    const sbx = this.sandbox
    const response = await sbx.transport.open({
      method: 'GET',
      path: processRoute(sbx, pid, '/stream'),
      query: { follow: 'true' },
      timeoutMs: sbx.timeout(opts),
      sandboxId: sbx.sandboxId,
      signal: opts.signal,
    })
    const stream = new EventStream(response, what, sbx.timeout(opts), sbx.sandboxId)
    return new CommandHandle(sbx, pid, stream, what, opts.onStdout, opts.onStderr)
  }

  /** A foreground command over POST .../commands/stream, its callbacks called as events arrive. */
  private async runStreamed(body: Record<string, unknown>, what: string, opts: CommandStartOpts): Promise<CommandResult> {
    const sbx = this.sandbox
    if (opts.stdin === true) body.stdin_open = true
    const response = await sbx.transport.open({
      method: 'POST',
      path: sbx.route + '/commands/stream',
      json: body,
      timeoutMs: sbx.timeout(opts),
      sandboxId: sbx.sandboxId,
      signal: opts.signal,
    })
    const stream = new EventStream(response, what, sbx.timeout(opts), sbx.sandboxId)
    const handle = new CommandHandle(sbx, undefined, stream, what, opts.onStdout, opts.onStderr, true)
    let result: CommandResult
    try {
      result = await handle.result()
    } catch (error) {
      if (error instanceof TimeoutError && error.code === 'timeout' && error.status === undefined) {
        throw this.timedOut(what, body.timeout as number, error)
      }
      throw error
    }
    if (result.exitCode !== 0) throw new CommandExitError(result, what, { sandboxId: sbx.sandboxId })
    return result
  }

  private timedOut(what: string, seconds: number, output: { stdout: string; stderr: string; exitCode?: number }): TimeoutError {
    return new TimeoutError(
      `${what} timed out after ${seconds} s and was killed (pass a larger timeoutMs, or 0 for none)`,
      { sandboxId: this.sandbox.sandboxId, code: 'timeout', stdout: output.stdout, stderr: output.stderr, exitCode: output.exitCode },
    )
  }
}
