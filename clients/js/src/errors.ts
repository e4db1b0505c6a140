// Errors of the declaw SDK, and the table that turns a daemon error answer into one of them.
//
// Every error is a SandboxError. The names are those of E2B's JS SDK (SandboxError,
// TimeoutError, NotFoundError, FileNotFoundError, SandboxNotFoundError, InvalidArgumentError,
// NotEnoughSpaceError, AuthenticationError, RateLimitError, CommandExitError); the rest narrow
// them as the Python SDK's exceptions.py does (PermissionDeniedError, SandboxNotRunningError,
// ...), so callers can tell "the sandbox died" from "the file is missing".

export interface SandboxErrorOpts {
  /** The sandbox the request named, when it named one. */
  sandboxId?: string
  /** The daemon's machine-readable code ("not_found", ...); "" for client-side errors. */
  code?: string
  /** The HTTP status; undefined when no answer came. */
  status?: number
}

/** Base class of every declaw error. */
export class SandboxError extends Error {
  sandboxId?: string
  code: string
  status?: number

  constructor(message = '', opts: SandboxErrorOpts = {}) {
    super(message)
    this.name = new.target.name
    this.sandboxId = opts.sandboxId
    this.code = opts.code ?? ''
    this.status = opts.status
  }
}

/** Output a command left behind when it was stopped. */
export interface CommandOutput {
  stdout: string
  stderr: string
  exitCode?: number
}

/**
 * An operation ran out of time: a command's `timeoutMs` (then `stdout`, `stderr` and
 * `exitCode` hold what it produced before it was killed), a `requestTimeoutMs`, a watch's
 * `timeoutMs`, or the daemon giving up on a slow request (408).
 */
export class TimeoutError extends SandboxError {
  stdout: string
  stderr: string
  exitCode?: number

  constructor(message = '', opts: SandboxErrorOpts & Partial<CommandOutput> = {}) {
    super(message, opts)
    this.stdout = opts.stdout ?? ''
    this.stderr = opts.stderr ?? ''
    this.exitCode = opts.exitCode
  }
}

/** The request was refused as invalid (400, 405): a bad value, path or type. */
export class InvalidArgumentError extends SandboxError {}

/** A body, header or file is over one of the daemon's limits (413). */
export class TooLargeError extends InvalidArgumentError {}

/** The sandbox's disk is full (507). */
export class NotEnoughSpaceError extends SandboxError {}

/** The sandbox, file, process or route does not exist (404). */
export class NotFoundError extends SandboxError {}

/** A path that `files.*` was given does not exist in the sandbox. */
export class FileNotFoundError extends NotFoundError {}

/** No sandbox of that id: it never existed, or the daemon no longer remembers it. */
export class SandboxNotFoundError extends NotFoundError {}

/**
 * The caller may not do this (403). declaw has no API keys: the daemon identifies callers by
 * their uid, so this means "not yours" or "not allowed".
 */
export class AuthenticationError extends SandboxError {}

/**
 * 403: the sandbox belongs to another user, or the sandbox user lacks permission on a path
 * (try `user: 'root'`), or the socket itself is not open to this user.
 */
export class PermissionDeniedError extends AuthenticationError {}

/** Over a configured limit of the daemon, such as max_sandboxes or max_connections (429). */
export class RateLimitError extends SandboxError {}

/**
 * The request conflicts with the current state (409): makeDir() where a file is, a finished
 * process, or a command or file call on a paused sandbox.
 */
export class ConflictError extends SandboxError {}

/** The sandbox exists but is not running any more: it was killed, or its timeout passed. */
export class SandboxNotRunningError extends ConflictError {}

/** A valid request for a feature this declawd does not have (501), or an option of the hosted SDK declaw does not implement. */
export class NotImplementedError extends SandboxError {}

/** declawd could not be reached, or closed the connection before answering. */
export class ConnectionError extends SandboxError {}

/** What a finished command produced. */
export interface CommandResult {
  /** The exit code; 0 when the command succeeded (128+N after signal N). */
  exitCode: number
  /** Why the command did not exit by itself ("killed by signal 9"), else undefined. */
  error?: string
  stdout: string
  stderr: string
}

/**
 * A command exited with a non-zero code: `commands.run()` in the foreground and a handle's
 * `wait()` throw it, as E2B's SDK does. It carries the whole result.
 */
export class CommandExitError extends SandboxError implements CommandResult {
  readonly exitCode: number
  readonly error?: string
  readonly stdout: string
  readonly stderr: string

  constructor(result: CommandResult, what = 'command', opts: SandboxErrorOpts = {}) {
    const tail = result.stderr.trim().slice(-500)
    super(
      `${what} exited with code ${result.exitCode}` +
        (result.error ? ` (${result.error})` : '') +
        (tail ? `: ${tail}` : ''),
      opts,
    )
    this.exitCode = result.exitCode
    this.error = result.error
    this.stdout = result.stdout
    this.stderr = result.stderr
  }
}

type ErrorClass = new (message: string, opts: SandboxErrorOpts) => SandboxError

// docs/api.md, "Errors": the daemon's codes. The status is the fallback for unknown codes.
const CLASS_BY_CODE: Record<string, ErrorClass> = {
  invalid_argument: InvalidArgumentError,
  method_not_allowed: InvalidArgumentError,
  forbidden: PermissionDeniedError,
  not_found: NotFoundError,
  timeout: TimeoutError,
  conflict: ConflictError,
  too_large: TooLargeError,
  rate_limited: RateLimitError,
  internal: SandboxError,
  not_implemented: NotImplementedError,
  not_enough_space: NotEnoughSpaceError,
}

const CODE_BY_STATUS: Record<number, string> = {
  400: 'invalid_argument',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  408: 'timeout',
  409: 'conflict',
  413: 'too_large',
  429: 'rate_limited',
  431: 'too_large',
  500: 'internal',
  501: 'not_implemented',
  507: 'not_enough_space',
}

// What to do about it, appended to the daemon's message (as the Python SDK says it).
const HINTS: Record<string, string> = {
  forbidden:
    "the sandbox's user may not do this; file operations and commands accept " +
    "user: 'root' to act as the sandbox's root",
  not_owner: 'only the user who created a sandbox (or root) may use it',
  too_large:
    "stay under the daemon's limits (GET /v1/health lists them; docs/operations.md says how " +
    'to raise them)',
  rate_limited:
    "kill sandboxes you no longer need, or raise the daemon's limit (docs/operations.md)",
  not_enough_space: "the sandbox's disk is full: remove files in it",
  internal: "this is a bug in declaw: please report it with the daemon's log",
  not_running:
    'create a new sandbox; a sandbox stops when kill() is called or its timeout passes ' +
    '(setTimeout() extends it)',
  paused: 'call Sandbox.connect(sandboxId), which resumes it; its processes and files are as they were',
  no_link:
    'a sandbox created without internet access has no network link and cannot get one: ' +
    'create a new sandbox with allowInternetAccess: true',
}

// How the daemon says a sandbox id is unknown (api/router.cc).
const SANDBOX_NOT_FOUND = /^sandbox ('.*'|\S+) not found\b/
// A conflict about one of the sandbox's processes, not the sandbox.
const PROCESS_MESSAGE = /^(stdin of )?process \d+ /

/** The error of a daemon answer `{"error": {"code", "message", "sandbox_id"}}`. */
export function errorFromResponse(status: number, body: Uint8Array, sandboxId?: string): SandboxError {
  const text = new TextDecoder().decode(body)
  let error: Record<string, unknown> = {}
  try {
    const parsed: unknown = JSON.parse(text)
    if (parsed && typeof parsed === 'object' && 'error' in parsed) {
      const inner = (parsed as { error: unknown }).error
      if (inner && typeof inner === 'object') error = inner as Record<string, unknown>
    }
  } catch {
    // not JSON: the status decides
  }
  const code = String(error.code || CODE_BY_STATUS[status] || 'internal')
  const message = String(error.message || text.slice(0, 300) || `HTTP ${status}`)
  const id = typeof error.sandbox_id === 'string' ? error.sandbox_id : sandboxId
  let cls: ErrorClass = CLASS_BY_CODE[code] ?? CLASS_BY_CODE[CODE_BY_STATUS[status] ?? ''] ?? SandboxError
  let hint: string | undefined = HINTS[code]
  if (code === 'forbidden' && message.includes('belongs to another user')) hint = HINTS.not_owner
  // ESRCH ("No such process") says the sandbox is not running, and also that one of its
  // processes has finished: only the first is SandboxNotRunningError.
  if (cls === ConflictError && PROCESS_MESSAGE.test(message)) {
    // a process's conflict
  } else if (cls === ConflictError && message.includes('is paused')) {
    hint = HINTS.paused
  } else if (
    cls === ConflictError &&
    message.includes('without internet') &&
    !message.includes('create a new sandbox')
  ) {
    hint = HINTS.no_link
  } else if (
    cls === ConflictError &&
    (message.includes('is not running') || message.endsWith('No such process'))
  ) {
    cls = SandboxNotRunningError
    hint = HINTS.not_running
  }
  if (cls === NotFoundError && SANDBOX_NOT_FOUND.test(message)) cls = SandboxNotFoundError
  return new cls(hint ? `${message}: ${hint}` : message, { sandboxId: id, code, status })
}

/** ERROR as an instance of CLS (a subclass of its class), message and fields kept. */
export function narrowed(cls: ErrorClass, error: SandboxError): SandboxError {
  return new cls(error.message, { sandboxId: error.sandboxId, code: error.code, status: error.status })
}

// How the daemon says it has no such route (a daemon older than the call).
const NO_ROUTE = /^no route for /

/** A 404 of a files call: a missing path, unless the sandbox itself (or the route) is unknown. */
export function fileNotFound(error: unknown): never {
  if (error instanceof NotFoundError && !(error instanceof SandboxNotFoundError) && !NO_ROUTE.test(error.message)) {
    throw narrowed(FileNotFoundError, error)
  }
  throw error
}

/** A 404 of a call on the sandbox itself: only the sandbox can be missing. */
export function sandboxNotFound(error: unknown): never {
  if (error instanceof NotFoundError && !(error instanceof SandboxNotFoundError)) {
    throw narrowed(SandboxNotFoundError, error)
  }
  throw error
}
