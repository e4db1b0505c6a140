// sbx.runCode() and the code contexts: a stateful IPython kernel per context inside the
// sandbox, driven through the bridge program that the Python SDK ships
// (clients/python/declaw/_kernel_bridge.py, embedded at build time as src/kernelBridge.ts; its
// protocol is described at its top). The shapes are those of E2B's code interpreter JS SDK.
// One bridge per context, a background command with its stdin open; its stdout is followed as
// an event stream for the context's whole life. One execution at a time per context.

import { randomUUID } from 'node:crypto'

import type { Commands } from './commands.js'
import type { RequestOpts, SandboxContext } from './context.js'
import {
  ConflictError,
  ConnectionError,
  InvalidArgumentError,
  NotImplementedError,
  SandboxError,
  SandboxNotRunningError,
  TimeoutError,
} from './errors.js'
import type { Filesystem } from './filesystem.js'
import { BRIDGE_DIGEST, BRIDGE_SOURCE } from './kernelBridge.js'
import { processRoute } from './processes.js'
import { EventStream, type SseEvent } from './sse.js'

const BRIDGE_PATH = `/opt/declaw/kernel_bridge-${BRIDGE_DIGEST}.py`
const FALLBACK_BRIDGE_PATH = `/tmp/.declaw-kernel_bridge-${BRIDGE_DIGEST}.py`
const KERNELS_DIR = '/tmp/.declaw-kernels'
const KERNEL_USER = 'user'
const DEFAULT_CWD = '/home/user'
/** E2B's default execution timeout. */
export const DEFAULT_RUN_CODE_TIMEOUT_MS = 300_000
const START_TIMEOUT_MS = 90_000
/** How much longer than the execution's timeout to wait for the bridge's verdict. */
const TIMEOUT_MARGIN_MS = 75_000
const STREAM_SILENCE_MS = 60_000
const MIME_FIELDS: [keyof ResultFields, string][] = [
  ['text', 'text/plain'],
  ['html', 'text/html'],
  ['markdown', 'text/markdown'],
  ['svg', 'image/svg+xml'],
  ['png', 'image/png'],
  ['jpeg', 'image/jpeg'],
  ['pdf', 'application/pdf'],
  ['latex', 'text/latex'],
  ['json', 'application/json'],
  ['javascript', 'application/javascript'],
  ['data', 'e2b/data'],
]

/** A piece of stdout or stderr: `timestamp` in ns since the epoch, `error` true for stderr. */
export class OutputMessage {
  constructor(
    public readonly line: string,
    public readonly timestamp: number,
    public readonly error: boolean,
  ) {}

  toString(): string {
    return this.line
  }
}

/** What the code raised (or name 'KernelDied' when its kernel died under it). */
export class ExecutionError {
  constructor(
    public name: string,
    public value: string,
    public traceback: string,
  ) {}
}

interface ResultFields {
  text?: string
  html?: string
  markdown?: string
  svg?: string
  png?: string
  jpeg?: string
  pdf?: string
  latex?: string
  json?: any
  javascript?: string
  data?: Record<string, unknown>
}

/** One display() call or the last expression's value (`isMainResult`), in every representation the kernel gave. */
export class Result implements ResultFields {
  readonly text?: string
  readonly html?: string
  readonly markdown?: string
  readonly svg?: string
  readonly png?: string
  readonly jpeg?: string
  readonly pdf?: string
  readonly latex?: string
  readonly json?: any
  readonly javascript?: string
  readonly data?: Record<string, unknown>
  readonly chart?: unknown = undefined
  readonly extra: Record<string, unknown>
  /** The MIME bundle as the kernel sent it. */
  readonly raw: Record<string, unknown>

  constructor(
    bundle: Record<string, unknown>,
    public readonly isMainResult: boolean,
  ) {
    this.raw = { ...bundle }
    const rest: Record<string, unknown> = { ...bundle }
    const fields: Record<string, unknown> = {}
    for (const [name, mime] of MIME_FIELDS) {
      fields[name] = rest[mime]
      delete rest[mime]
    }
    let text = fields.text as string | undefined
    // As E2B's server: the quotes of a string's repr are dropped.
    if (text && text.length >= 2 && text[0] === text[text.length - 1] && `'"`.includes(text[0])) text = text.slice(1, -1)
    Object.assign(this, fields, { text })
    this.extra = rest
  }

  /** The representations present: 'text', 'html', 'png', ... and extra's MIME types. */
  formats(): string[] {
    const found = MIME_FIELDS.map(([name]) => name).filter((name) => this[name] !== undefined && this[name] !== null)
    return [...found, ...Object.keys(this.extra)]
  }

  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    for (const [name] of MIME_FIELDS) out[name] = this[name]
    if (Object.keys(this.extra).length) out.extra = this.extra
    return out
  }
}

export interface Logs {
  stdout: string[]
  stderr: string[]
}

/** The outcome of one runCode(). */
export class Execution {
  constructor(
    public results: Result[] = [],
    public logs: Logs = { stdout: [], stderr: [] },
    public error?: ExecutionError,
    public executionCount?: number,
  ) {}

  /** The last expression's text. */
  get text(): string | undefined {
    return this.results.find((r) => r.isMainResult)?.text
  }

  toJSON(): Record<string, unknown> {
    return { results: this.results, logs: this.logs, error: this.error }
  }
}

/** A code context: a kernel of its own. */
export interface Context {
  id: string
  language: string
  cwd: string
}

export interface RunCodeOpts extends RequestOpts {
  onStdout?: (output: OutputMessage) => unknown
  onStderr?: (output: OutputMessage) => unknown
  onResult?: (result: Result) => unknown
  onError?: (error: ExecutionError) => unknown
  /** Set in the kernel's os.environ for this execution only. */
  envs?: Record<string, string>
  /** Default 300 000 (E2B's); 0 for none. Past it the code is interrupted and TimeoutError thrown. */
  timeoutMs?: number
}

export interface CreateCodeContextOpts extends RequestOpts {
  cwd?: string
  language?: string
}

type Message = Record<string, any>

/** One context's bridge and the reading of its output. */
class Session {
  pid?: number
  stream?: EventStream
  /** Where the reader hands each message; the current request's. */
  listener?: (message: Message) => Promise<void>
  /** Called once if the bridge's output ends. */
  onEnd?: (error: SandboxError) => void
  ended?: SandboxError
  /** One request at a time: each waits for the one before. */
  turn: Promise<unknown> = Promise.resolve()

  constructor(readonly context: Context) {}
}

function checkLanguage(language?: string): string {
  const key = (language ?? 'python').trim().toLowerCase()
  if (!['python', 'python3', 'py', 'ipython'].includes(key)) {
    throw new NotImplementedError(
      `runCode runs Python only (an IPython kernel inside the sandbox), not '${language}': run other languages with sbx.commands.run()`,
    )
  }
  return 'python'
}

/** The Context of a bridge process's argv, else undefined. */
function contextOf(args: string[]): Context | undefined {
  if (args.length < 2 || !/^kernel_bridge-/.test(args[1].split('/').pop() ?? '')) return undefined
  const values: Record<string, string> = {}
  for (let i = 2; i + 1 < args.length; i += 2) values[args[i]] = args[i + 1]
  if (!values['--context']) return undefined
  return { id: values['--context'], language: values['--language'] ?? 'python', cwd: values['--cwd'] ?? DEFAULT_CWD }
}

/** @internal The runCode() side of one Sandbox. */
export class CodeInterpreter {
  private readonly sessions = new Map<string, Session>()
  private bridgePath?: Promise<string>

  constructor(
    private readonly sandbox: SandboxContext,
    private readonly commands: Commands,
    private readonly files: Filesystem,
  ) {}

  async runCode(code: string, opts: RunCodeOpts & { language?: string; context?: Context } = {}): Promise<Execution> {
    if (opts.language && opts.context) {
      throw new InvalidArgumentError('You can provide context or language, but not both at the same time.')
    }
    if (typeof code !== 'string') throw new InvalidArgumentError('code must be a string')
    const context = opts.context ?? { id: `default-${checkLanguage(opts.language)}`, language: 'python', cwd: DEFAULT_CWD }
    const timeoutMs = opts.timeoutMs ?? DEFAULT_RUN_CODE_TIMEOUT_MS
    const session = this.session(context)
    return this.inTurn(session, async () => {
      const id = randomUUID()
      const request: Record<string, unknown> = { op: 'execute', id, code, timeout: timeoutMs ? timeoutMs / 1000 : null }
      if (opts.envs && Object.keys(opts.envs).length) request.envs = { ...opts.envs }
      const line = JSON.stringify(request) + '\n'
      const limitMs = timeoutMs ? timeoutMs + TIMEOUT_MARGIN_MS : 0
      if (!(await this.ensureStarted(session, opts))) {
        try {
          return await this.send(session, line, opts, () => this.follow(session, id, limitMs, opts, true))
        } catch (error) {
          if (!(error instanceof ConflictError) || error instanceof SandboxNotRunningError) throw error
          // Its bridge ended since the last call: a new kernel, as after a crash.
          this.drop(session)
          await this.ensureStarted(session, opts)
        }
      }
      return this.send(session, line, opts, () => this.follow(session, id, limitMs, opts, true))
    })
  }

  async createCodeContext(opts: CreateCodeContextOpts = {}): Promise<Context> {
    const context = { id: randomUUID(), language: checkLanguage(opts.language), cwd: opts.cwd ?? DEFAULT_CWD }
    const session = this.session(context)
    await this.inTurn(session, () => this.ensureStarted(session, opts))
    return context
  }

  async listCodeContexts(opts?: RequestOpts): Promise<Context[]> {
    return (await this.commands.list(opts)).map((p) => contextOf(p.args)).filter((c): c is Context => c !== undefined)
  }

  async restartCodeContext(context: Context | string, opts: RequestOpts = {}): Promise<void> {
    const session = this.session(typeof context === 'string' ? { id: context, language: 'python', cwd: DEFAULT_CWD } : context)
    await this.inTurn(session, async () => {
      if (await this.ensureStarted(session, opts)) return
      const id = randomUUID()
      const line = JSON.stringify({ op: 'restart', id }) + '\n'
      await this.send(session, line, opts, () => this.follow(session, id, START_TIMEOUT_MS, {}, false))
    })
  }

  async removeCodeContext(context: Context | string, opts: RequestOpts = {}): Promise<void> {
    const id = typeof context === 'string' ? context : context.id
    const session = this.sessions.get(id)
    this.sessions.delete(id)
    const pid = session?.pid ?? (await this.findPid(id, opts))
    if (session) this.drop(session)
    if (pid === undefined) return
    try {
      await this.commands.closeStdin(pid, opts) // EOF: the bridge shuts its kernel down
      for (let waited = 0; waited < 15_000; waited += 200) {
        if (!(await this.commands.list(opts)).some((p) => p.pid === pid)) return
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
    } catch {
      // it has gone, or does not listen: killed below
    }
    await this.commands.kill(pid, opts)
  }

  /**
   * Writes a request LINE to the bridge and returns what `follow` makes of its answer. The
   * listener is in place before the write: the answer can be read off the output stream before
   * the write's own HTTP reply is (a loaded machine), and a message without a listener is lost.
   */
  private async send(session: Session, line: string, opts: RequestOpts, follow: () => Promise<Execution>): Promise<Execution> {
    const answer = follow()
    answer.catch(() => undefined) // handled below; not "unhandled" while the write is on its way
    try {
      await this.commands.sendStdin(session.pid!, line, opts)
    } catch (error) {
      session.onEnd?.(error as SandboxError) // stops following: no listener, no timer
      throw error
    }
    return answer
  }

  /** Closes the output streams (the bridges end with the sandbox). */
  close(): void {
    for (const session of this.sessions.values()) this.drop(session)
    this.sessions.clear()
  }

  private session(context: Context): Session {
    let session = this.sessions.get(context.id)
    if (!session) {
      session = new Session({ ...context, cwd: context.cwd || DEFAULT_CWD })
      this.sessions.set(context.id, session)
    }
    return session
  }

  private async inTurn<T>(session: Session, work: () => Promise<T>): Promise<T> {
    const previous = session.turn
    let release!: () => void
    session.turn = new Promise<void>((resolve) => (release = resolve))
    await previous.catch(() => undefined)
    try {
      return await work()
    } finally {
      release()
    }
  }

  private async findPid(contextId: string, opts?: RequestOpts): Promise<number | undefined> {
    return (await this.commands.list(opts)).find((p) => contextOf(p.args)?.id === contextId)?.pid
  }

  private async bridge(opts: RequestOpts): Promise<string> {
    this.bridgePath ??= (async () => {
      try {
        if (!(await this.files.exists(BRIDGE_PATH, { ...opts, user: 'root' }))) {
          await this.files.write(BRIDGE_PATH, BRIDGE_SOURCE, { ...opts, user: 'root' })
        }
        return BRIDGE_PATH
      } catch (error) {
        if (!(error instanceof SandboxError)) throw error
        await this.files.write(FALLBACK_BRIDGE_PATH, BRIDGE_SOURCE, { ...opts, user: KERNEL_USER })
        return FALLBACK_BRIDGE_PATH
      }
    })()
    try {
      return await this.bridgePath
    } catch (error) {
      this.bridgePath = undefined
      throw error
    }
  }

  /** Attaches to the context's bridge, or starts one and waits for its kernel. True when it started one. */
  private async ensureStarted(session: Session, opts: RequestOpts): Promise<boolean> {
    if (session.stream && !session.ended) return false
    const sbx = this.sandbox
    let pid = await this.findPid(session.context.id, opts)
    const started = pid === undefined
    if (started) {
      const { id, language, cwd } = session.context
      const argv = ['/usr/bin/python3', await this.bridge(opts), '--context', id, '--language', language, '--cwd', cwd, '--dir', `${KERNELS_DIR}/${id}`]
      const handle = await this.commands.run(argv, { background: true, user: KERNEL_USER, cwd, timeoutMs: 0, ...opts })
      await handle.disconnect() // this object reads the output itself, below
      pid = handle.pid
    }
    session.pid = pid
    session.ended = undefined
    const response = await sbx.transport.open({
      method: 'GET',
      path: processRoute(sbx, pid!, '/stream'),
      query: { follow: 'true' },
      timeoutMs: STREAM_SILENCE_MS,
      sandboxId: sbx.sandboxId,
      signal: opts.signal,
    })
    session.stream = new EventStream(response, `the code interpreter of context ${session.context.id}`, STREAM_SILENCE_MS, sbx.sandboxId)
    session.stream.ref(false) // an idle kernel does not keep Node running
    void this.read(session, session.stream)
    if (started) await this.follow(session, undefined, START_TIMEOUT_MS, {}, false)
    return started
  }

  /** Reads the bridge's output for the session's life, handing each message to its listener. */
  private async read(session: Session, stream: EventStream): Promise<void> {
    const decoder = new TextDecoder('utf-8')
    let partial = ''
    let end: SandboxError | undefined
    try {
      for await (const event of stream) {
        if (event.event === 'exit') {
          end = this.exitError(session, event)
          break
        }
        if (event.event === 'lost') {
          end = new SandboxError(`the daemon dropped output of the code interpreter (context ${session.context.id})`, {
            sandboxId: this.sandbox.sandboxId,
          })
          break
        }
        if (event.event !== 'stdout') continue
        const bytes = typeof event.data.data_base64 === 'string' ? Buffer.from(event.data.data_base64, 'base64') : Buffer.from(String(event.data.data ?? ''), 'utf8')
        const lines = (partial + decoder.decode(bytes, { stream: true })).split('\n')
        partial = lines.pop() ?? ''
        for (const line of lines) {
          let message: unknown
          try {
            message = JSON.parse(line)
          } catch {
            continue
          }
          if (message && typeof message === 'object' && session.listener) await session.listener(message as Message)
        }
      }
    } catch (error) {
      end = error instanceof SandboxError ? error : new ConnectionError(String(error), { sandboxId: this.sandbox.sandboxId })
    }
    if (session.stream !== stream) return // dropped on purpose
    end ??= new ConnectionError(`the output of the code interpreter (context ${session.context.id}) was cut: is declawd still running?`, {
      sandboxId: this.sandbox.sandboxId,
    })
    session.ended = end
    session.onEnd?.(end)
  }

  private exitError(session: Session, event: SseEvent): SandboxError {
    const sandboxId = this.sandbox.sandboxId
    const code = event.data.exit_code
    if (code === null || code === undefined) {
      return new SandboxNotRunningError(`the sandbox ended while the code interpreter ran: ${event.data.error ?? 'killed'}`, {
        sandboxId,
        code: 'conflict',
      })
    }
    if (code === 127) return new NotImplementedError('runCode needs /usr/bin/python3 in the sandbox (with python3-ipykernel)', { sandboxId })
    return new SandboxError(
      `the code interpreter of context ${session.context.id} exited (exit code ${code}); the next call starts a new kernel`,
      { sandboxId },
    )
  }

  /**
   * Waits for the end of request ID (undefined: the bridge's "ready"), building its Execution
   * and calling the callbacks in order.
   */
  private follow(session: Session, id: string | undefined, limitMs: number, opts: RunCodeOpts, running: boolean): Promise<Execution> {
    const execution = new Execution()
    const sandboxId = this.sandbox.sandboxId
    return new Promise<Execution>((resolve, reject) => {
      // A ref'd timer keeps Node running while the request is pending (the stream does not).
      const timer = setTimeout(() => finish(this.stuck(session, running)), limitMs || 2 ** 31 - 1)
      const finish = (error?: Error, value?: Execution) => {
        clearTimeout(timer)
        session.listener = undefined
        session.onEnd = undefined
        if (error) reject(error)
        else resolve(value!)
      }
      session.onEnd = (error) => finish(error)
      if (session.ended) return finish(session.ended)
      session.listener = async (message) => {
        if (id === undefined) {
          if (message.type === 'ready') finish(undefined, execution)
          else if (message.type === 'fatal') {
            this.drop(session)
            finish(
              message.missing
                ? new NotImplementedError(`runCode needs Jupyter's kernel inside the sandbox: ${message.message}`, { sandboxId })
                : new SandboxError(`the code interpreter could not start: ${message.message}`, { sandboxId }),
            )
          }
          return
        }
        if (message.id !== id) return
        try {
          if (message.type === 'spill') message = JSON.parse(await this.files.read(message.path, { user: KERNEL_USER }))
          await this.apply(execution, message, opts, finish)
        } catch (error) {
          finish(error as Error)
        }
      }
    })
  }

  private stuck(session: Session, running: boolean): SandboxError {
    const pid = session.pid
    this.drop(session)
    if (pid !== undefined) void this.commands.kill(pid).catch(() => undefined)
    return new TimeoutError(
      running
        ? 'the code interpreter did not end the execution after its timeout: it is killed and the next call starts a new kernel'
        : 'the code interpreter did not answer in time',
      { sandboxId: this.sandbox.sandboxId, code: 'timeout' },
    )
  }

  private async apply(execution: Execution, message: Message, opts: RunCodeOpts, finish: (e?: Error, v?: Execution) => void): Promise<void> {
    switch (message.type) {
      case 'stdout':
      case 'stderr': {
        const text = String(message.text ?? '')
        const isErr = message.type === 'stderr'
        ;(isErr ? execution.logs.stderr : execution.logs.stdout).push(text)
        await (isErr ? opts.onStderr : opts.onStdout)?.(new OutputMessage(text, Number(message.timestamp ?? 0), isErr))
        return
      }
      case 'result': {
        const result = new Result(message.data ?? {}, Boolean(message.is_main_result))
        execution.results.push(result)
        await opts.onResult?.(result)
        return
      }
      case 'error':
        execution.error = new ExecutionError(String(message.name ?? ''), String(message.value ?? ''), String(message.traceback ?? ''))
        await opts.onError?.(execution.error)
        return
      case 'execution_count':
        execution.executionCount = message.execution_count
        return
      case 'died':
        execution.error = new ExecutionError('KernelDied', String(message.message ?? ''), '')
        await opts.onError?.(execution.error)
        return finish(undefined, execution)
      case 'timeout':
        return finish(
          new TimeoutError(
            "Execution timed out — the 'timeoutMs' option can be used to increase this timeout" +
              (message.restarted
                ? ' (the code ignored the interrupt: its kernel was restarted, its variables are gone)'
                : ' (the code was interrupted; the context keeps its variables)'),
            { sandboxId: this.sandbox.sandboxId, code: 'timeout' },
          ),
        )
      case 'done':
      case 'restarted':
        return finish(undefined, execution)
    }
  }

  private drop(session: Session): void {
    const stream = session.stream
    session.stream = undefined
    session.pid = undefined
    stream?.close()
  }
}
