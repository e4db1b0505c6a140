// declaw: the TypeScript SDK of the local sandbox daemon declawd, in the shape of E2B's JS SDK.
// docs/js.md says what each call does and where it differs from E2B's.

export { Sandbox, SandboxPaginator } from './sandbox.js'
export type {
  ConnectionOpts,
  NetworkSelector,
  SandboxConnectOpts,
  SandboxCreateNetworkOpts,
  SandboxListOpts,
  SandboxOpts,
} from './sandbox.js'
export { Commands, DEFAULT_COMMAND_TIMEOUT_MS } from './commands.js'
export type { Command, CommandConnectOpts, CommandStartOpts, Username } from './commands.js'
export { CommandHandle } from './commandHandle.js'
export type { OutputCallback } from './commandHandle.js'
export { DEFAULT_RUN_CODE_TIMEOUT_MS, Execution, ExecutionError, OutputMessage, Result } from './codeInterpreter.js'
export type { Context, CreateCodeContextOpts, Logs, RunCodeOpts } from './codeInterpreter.js'
export type { PortForward } from './ports.js'
export { Filesystem, DEFAULT_WATCH_TIMEOUT_MS } from './filesystem.js'
export type {
  FilesystemListOpts,
  FilesystemReadOpts,
  FilesystemRequestOpts,
  WatchOpts,
  WriteData,
  WriteEntry,
} from './filesystem.js'
export { WatchHandle, FilesystemEventType } from './watchHandle.js'
export type { FilesystemEvent, WatchEndReason } from './watchHandle.js'
export { ALL_TRAFFIC, FileType } from './models.js'
export type {
  EntryInfo,
  ProcessInfo,
  SandboxInfo,
  SandboxLifecycle,
  SandboxMetrics,
  SandboxNetworkInfo,
  SandboxNetworkOpts,
  SandboxResources,
  SandboxState,
  WriteInfo,
} from './models.js'
export type { RequestOpts } from './context.js'
export {
  AuthenticationError,
  CommandExitError,
  ConflictError,
  ConnectionError,
  FileNotFoundError,
  InvalidArgumentError,
  NotEnoughSpaceError,
  NotFoundError,
  NotImplementedError,
  PermissionDeniedError,
  RateLimitError,
  SandboxError,
  SandboxNotFoundError,
  SandboxNotRunningError,
  TimeoutError,
  TooLargeError,
} from './errors.js'
export type { CommandResult, SandboxErrorOpts } from './errors.js'
export { DEFAULT_SOCKET_PATH, resolveSocketPath } from './transport.js'
export { SseDecoder } from './sse.js'
export type { SseEvent } from './sse.js'

import { Sandbox } from './sandbox.js'
export default Sandbox
