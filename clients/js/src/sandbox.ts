// Sandbox: create, connect to, list, inspect and kill sandboxes (/v1/sandboxes...).

import {
  CodeInterpreter,
  type Context,
  type CreateCodeContextOpts,
  type Execution,
  type RunCodeOpts,
} from './codeInterpreter.js'
import { Commands } from './commands.js'
import { type RequestOpts, SandboxContext } from './context.js'
import { InvalidArgumentError, NotFoundError, NotImplementedError, SandboxNotRunningError, sandboxNotFound } from './errors.js'
import { Filesystem } from './filesystem.js'
import {
  ALL_TRAFFIC,
  type SandboxInfo,
  type SandboxMetrics,
  type SandboxNetworkOpts,
  type SandboxResources,
  type SandboxState,
  sandboxInfo,
  sandboxMetrics,
  sandboxRoute,
  wholeSeconds,
} from './models.js'
import { type PortForward, Ports } from './ports.js'
import { type Transport, getTransport } from './transport.js'

/** How to reach the daemon. */
export interface ConnectionOpts extends RequestOpts {
  /** The daemon's socket: default $DECLAW_SOCKET, else /run/declaw/declaw.sock. */
  socketPath?: string
  /** Accepted for code written for the hosted service and ignored: declawd identifies callers by their uid. */
  apiKey?: string
  /** Accepted and ignored, as apiKey. */
  domain?: string
  /** Accepted and ignored, as apiKey. */
  accessToken?: string
  /** Accepted and ignored. */
  debug?: boolean
  /** Accepted and ignored. */
  headers?: Record<string, string>
}

/** E2B's network selector: a list, or a function of a context that returns one. */
export type NetworkSelector = string[] | ((ctx: { allTraffic: string }) => string[])

export interface SandboxCreateNetworkOpts extends Omit<SandboxNetworkOpts, 'allowOut' | 'denyOut'> {
  allowOut?: NetworkSelector
  denyOut?: NetworkSelector
  /** Not available in declaw: NotImplementedError when given. */
  rules?: unknown
  /** Not available in declaw: NotImplementedError when given. */
  egressProxy?: unknown
  /** E2B's public sandbox URLs; declaw has none: ignored. */
  allowPublicTraffic?: boolean
  /** Ignored, as allowPublicTraffic. */
  maskRequestHost?: string
}

export interface SandboxOpts extends ConnectionOpts {
  /** 'base' (the default), 'python', 'node', or any template the daemon has. */
  template?: string
  /** The sandbox is killed (or paused, with lifecycle) this many ms from now; default 300 s. */
  timeoutMs?: number
  /** Your labels, for Sandbox.list(). */
  metadata?: Record<string, string>
  /** Environment of every command. */
  envs?: Record<string, string>
  /**
   * Default true, as in E2B's SDK. false leaves the sandbox without any network link (and it
   * cannot get one later); true is NotImplementedError from a daemon without networking.
   */
  allowInternetAccess?: boolean
  /** Egress rules: allowOut, denyOut (IPs, CIDRs, domains, `*.domain`, ALL_TRAFFIC), loopbackInet. */
  network?: SandboxCreateNetworkOpts
  /** cpu (cores), memoryMB, pids, diskMB; those not given take the daemon's defaults. */
  resources?: SandboxResources
  /** `{onTimeout: 'pause'}` pauses the sandbox at its timeout instead of killing it. */
  lifecycle?: { onTimeout: 'kill' | 'pause' | { action: 'kill' | 'pause' }; autoResume?: boolean }
  /** E2B's TLS to the sandbox: ignored (the socket is local). */
  secure?: boolean
  /** Hosted-only features: NotImplementedError when given. */
  mcp?: unknown
  iam?: unknown
  volumeMounts?: unknown
}

export interface SandboxConnectOpts extends ConnectionOpts {
  /** When given, the sandbox's timeout is reset to this many ms from now. */
  timeoutMs?: number
}

export interface SandboxListOpts extends Omit<ConnectionOpts, 'signal'> {
  query?: {
    /** Only sandboxes whose metadata has all these pairs. */
    metadata?: Record<string, string>
    /** Default: the live ones (creating, running, paused), as the hosted API hides killed ones. */
    state?: SandboxState[]
  }
  /** At most this many per page. */
  limit?: number
  /** Where to go on from (a page's nextToken). */
  nextToken?: string
}

/** The default template and timeout, as E2B's SDK has them. */
const DEFAULT_TEMPLATE = 'base'
const DEFAULT_SANDBOX_TIMEOUT_MS = 300_000
const LIVE_STATES: SandboxState[] = ['creating', 'running', 'paused']

function transportOf(opts?: ConnectionOpts): Transport {
  return getTransport(opts?.socketPath)
}

function requestTimeout(transport: Transport, opts?: ConnectionOpts): number {
  return opts?.requestTimeoutMs ?? transport.requestTimeoutMs
}

function selector(value: NetworkSelector | undefined): string[] | undefined {
  if (value === undefined) return undefined
  return typeof value === 'function' ? value({ allTraffic: ALL_TRAFFIC }) : [...value]
}

function refuse(name: string, why: string): never {
  throw new NotImplementedError(`${name} is not available in declaw: ${why}`, { code: 'not_implemented' })
}

/** The body of POST /v1/sandboxes. */
export function createBody(template: string, opts: SandboxOpts): Record<string, unknown> {
  if (opts.mcp !== undefined) refuse('mcp', 'run the MCP server as a command in the sandbox')
  if (opts.iam !== undefined) refuse('iam', 'the daemon has no identity provider')
  if (opts.volumeMounts !== undefined) refuse('volumeMounts', 'write the files with sbx.files.write()')
  const body: Record<string, unknown> = {
    template,
    timeout: wholeSeconds(opts.timeoutMs ?? DEFAULT_SANDBOX_TIMEOUT_MS),
    allow_internet_access: opts.allowInternetAccess ?? true,
  }
  if (opts.metadata) body.metadata = { ...opts.metadata }
  if (opts.envs) body.envs = { ...opts.envs }
  if (opts.network) {
    const { allowOut, denyOut, loopbackInet, rules, egressProxy } = opts.network
    if (rules !== undefined) refuse('network.rules', 'egress rules are addresses and names only (allowOut, denyOut)')
    if (egressProxy !== undefined) refuse('network.egressProxy', "the daemon's own egress proxy enforces the rules")
    const network: Record<string, unknown> = {}
    const allow = selector(allowOut)
    const deny = selector(denyOut)
    if (allow !== undefined) network.allow_out = allow
    if (deny !== undefined) network.deny_out = deny
    if (loopbackInet !== undefined) network.loopback_inet = loopbackInet
    body.network = network
  }
  if (opts.resources) {
    const { cpu, memoryMB, pids, diskMB } = opts.resources
    const resources: Record<string, number> = {}
    if (cpu !== undefined) resources.cpu = cpu
    if (memoryMB !== undefined) resources.memory_mb = memoryMB
    if (pids !== undefined) resources.pids = pids
    if (diskMB !== undefined) resources.disk_mb = diskMB
    body.resources = resources
  }
  if (opts.lifecycle) {
    if (opts.lifecycle.autoResume) {
      refuse('lifecycle.autoResume', 'a paused sandbox is resumed by Sandbox.connect(sandboxId)')
    }
    const onTimeout = opts.lifecycle.onTimeout
    body.lifecycle = { on_timeout: typeof onTimeout === 'string' ? onTimeout : onTimeout.action }
  }
  return body
}

/** A time for a query: RFC 3339 from a Date, or unix seconds as they are. */
function timeParam(value: Date | number): string {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new InvalidArgumentError('start/end must be a valid Date')
    return value.toISOString()
  }
  if (!Number.isFinite(value) || value < 0) throw new InvalidArgumentError('start/end must be unix seconds >= 0 or a Date')
  return String(Math.floor(value))
}

/** Pages of Sandbox.list(), as E2B's SandboxPaginator: `while (p.hasNext) await p.nextItems()`. */
export class SandboxPaginator {
  hasNext = true
  nextToken?: string

  /** @internal */
  constructor(private readonly opts: SandboxListOpts = {}) {
    this.nextToken = opts.nextToken
  }

  /** The next page, newest first. */
  async nextItems(): Promise<SandboxInfo[]> {
    if (!this.hasNext) throw new Error('no more items to fetch')
    const { query, limit } = this.opts
    const transport = transportOf(this.opts)
    const params: Record<string, string | string[]> = { state: query?.state ?? LIVE_STATES }
    if (query?.metadata && Object.keys(query.metadata).length) params.metadata = new URLSearchParams(query.metadata).toString()
    if (this.nextToken) params.next_token = this.nextToken
    if (limit !== undefined) params.limit = String(limit)
    const data = await transport.json({
      method: 'GET',
      path: '/sandboxes',
      query: params,
      timeoutMs: requestTimeout(transport, this.opts),
    })
    let items = ((data?.sandboxes ?? []) as unknown[]).map(sandboxInfo)
    if (limit !== undefined) items = items.slice(0, limit)
    this.nextToken = typeof data?.next_token === 'string' && data.next_token ? data.next_token : undefined
    this.hasNext = this.nextToken !== undefined
    return items
  }
}

/**
 * A sandbox on the local declawd. Make one with `Sandbox.create()` or `Sandbox.connect()`.
 * `sbx.commands` runs commands and controls processes, `sbx.files` works on its filesystem.
 */
export class Sandbox {
  static readonly defaultTemplate = DEFAULT_TEMPLATE
  static readonly defaultSandboxTimeoutMs = DEFAULT_SANDBOX_TIMEOUT_MS

  readonly sandboxId: string
  readonly commands: Commands
  readonly files: Filesystem
  private readonly context: SandboxContext
  private readonly code: CodeInterpreter
  private readonly ports: Ports

  /** @internal Use Sandbox.create() or Sandbox.connect(). */
  constructor(opts: { sandboxId: string } & ConnectionOpts) {
    const transport = transportOf(opts)
    this.sandboxId = opts.sandboxId
    this.context = new SandboxContext(transport, opts.sandboxId, requestTimeout(transport, opts))
    this.commands = new Commands(this.context)
    this.files = new Filesystem(this.context)
    this.code = new CodeInterpreter(this.context, this.commands, this.files)
    this.ports = new Ports(this.context)
  }

  /**
   * Runs Python CODE in a stateful IPython kernel inside the sandbox (E2B's code interpreter):
   * the context's variables persist from call to call. Without `context`, the default Python
   * context, started on first use. Resolves with an Execution (results, logs, error, text); the
   * callbacks get each piece as it comes. `timeoutMs` (default 300 000, 0 for none): past it the
   * code is interrupted and TimeoutError thrown. clients/js/README.md, "runCode".
   */
  async runCode(code: string, opts?: RunCodeOpts & { language?: string; context?: Context }): Promise<Execution> {
    return this.code.runCode(code, opts)
  }

  /** A new context: a kernel of its own (started now), running in `cwd` (default /home/user). */
  async createCodeContext(opts?: CreateCodeContextOpts): Promise<Context> {
    return this.code.createCodeContext(opts)
  }

  /** The contexts whose kernels run in the sandbox. */
  async listCodeContexts(opts?: RequestOpts): Promise<Context[]> {
    return this.code.listCodeContexts(opts)
  }

  /** A fresh kernel for the context: its variables are gone. */
  async restartCodeContext(context: Context | string, opts?: RequestOpts): Promise<void> {
    return this.code.restartCodeContext(context, opts)
  }

  /** Shuts the context's kernel down; an unknown context is fine. */
  async removeCodeContext(context: Context | string, opts?: RequestOpts): Promise<void> {
    return this.code.removeCodeContext(context, opts)
  }

  /**
   * "127.0.0.1:N": an address on the host's loopback whose connections the daemon forwards to
   * 127.0.0.1:PORT inside the sandbox; made on the first call, the same after, until
   * closePort(PORT) or the sandbox ends. Unlike E2B's getHost() (a public hostname behind its
   * TLS proxy, computed without a request), this asks the daemon for a plain TCP listener on
   * this host only: use http://, not https://; anyone on the host can connect to it. The
   * sandbox needs `network: {loopbackInet: true}` (or internet access), else ConflictError.
   */
  async getHost(port: number, opts?: RequestOpts): Promise<string> {
    return this.ports.getHost(port, opts)
  }

  /**
   * The path of a unix socket on the host forwarded to 127.0.0.1:PORT inside the sandbox, that
   * only its owner (and root) can connect to (mode 0600): `http.request({socketPath})`.
   */
  async getPortSocket(port: number, opts?: RequestOpts): Promise<string> {
    return this.ports.getPortSocket(port, opts)
  }

  /** Ends PORT's forward (its socket, its TCP listener, their connections): true, or false when it was not forwarded. */
  async closePort(port: number, opts?: RequestOpts): Promise<boolean> {
    return this.ports.closePort(port, opts)
  }

  /** The forwarded ports: {port, unixSocket, host?}. */
  async listPorts(opts?: RequestOpts): Promise<PortForward[]> {
    return this.ports.listPorts(opts)
  }

  /** The daemon's socket this sandbox is reached on. */
  get socketPath(): string {
    return this.context.transport.socketPath
  }

  /** Creates a sandbox and returns it, running: `Sandbox.create({template: 'python', ...})` or `Sandbox.create('python', {...})`. */
  static async create<S extends typeof Sandbox>(this: S, opts?: SandboxOpts): Promise<InstanceType<S>>
  static async create<S extends typeof Sandbox>(this: S, template: string, opts?: SandboxOpts): Promise<InstanceType<S>>
  static async create<S extends typeof Sandbox>(
    this: S,
    templateOrOpts?: string | SandboxOpts,
    maybeOpts?: SandboxOpts,
  ): Promise<InstanceType<S>> {
    const opts = (typeof templateOrOpts === 'string' ? maybeOpts : templateOrOpts) ?? {}
    const template = typeof templateOrOpts === 'string' ? templateOrOpts : (opts.template ?? this.defaultTemplate)
    const transport = transportOf(opts)
    const data = await transport.json({
      method: 'POST',
      path: '/sandboxes',
      json: createBody(template, opts),
      timeoutMs: requestTimeout(transport, opts),
      signal: opts.signal,
    })
    return new this({ ...opts, sandboxId: data.sandbox_id }) as InstanceType<S>
  }

  /**
   * A Sandbox for an existing sandbox (one you created, unless you are root), running: a paused
   * sandbox is resumed, as E2B's SDK does. SandboxNotFoundError for an unknown id,
   * SandboxNotRunningError for a killed one.
   */
  static async connect<S extends typeof Sandbox>(this: S, sandboxId: string, opts: SandboxConnectOpts = {}): Promise<InstanceType<S>> {
    const sbx = new this({ ...opts, sandboxId }) as InstanceType<S>
    const info = await sbx.getInfo(opts)
    if (info.state === 'killed') {
      throw new SandboxNotRunningError(`sandbox ${sandboxId} was killed: create a new sandbox`, { sandboxId, code: 'conflict' })
    }
    if (opts.timeoutMs !== undefined) await sbx.setTimeout(opts.timeoutMs, opts)
    if (info.state === 'paused') await sbx.call('POST', '/resume', opts)
    return sbx
  }

  /** Your sandboxes (all of them for root), newest first, as pages (E2B's SandboxPaginator). */
  static list(opts?: SandboxListOpts): SandboxPaginator {
    return new SandboxPaginator(opts)
  }

  /** Kills the sandbox SANDBOX_ID: true (also if it already was killed), false if the daemon does not know it. */
  static async kill(sandboxId: string, opts?: ConnectionOpts): Promise<boolean> {
    return new Sandbox({ ...opts, sandboxId }).kill(opts)
  }

  /** The SandboxInfo of SANDBOX_ID, whatever its state. */
  static async getInfo(sandboxId: string, opts?: ConnectionOpts): Promise<SandboxInfo> {
    return new Sandbox({ ...opts, sandboxId }).getInfo(opts)
  }

  /** Sets the timeout of SANDBOX_ID: see sbx.setTimeout(). */
  static async setTimeout(sandboxId: string, timeoutMs: number, opts?: ConnectionOpts): Promise<void> {
    return new Sandbox({ ...opts, sandboxId }).setTimeout(timeoutMs, opts)
  }

  /** Kills the sandbox and everything in it: true (also if it already was), false if the daemon does not know it. */
  async kill(opts?: RequestOpts): Promise<boolean> {
    try {
      await this.context.transport.request({
        method: 'DELETE',
        path: sandboxRoute(this.sandboxId),
        timeoutMs: this.context.timeout(opts),
        sandboxId: this.sandboxId,
        signal: opts?.signal,
      })
      this.code.close()
      return true
    } catch (error) {
      if (error instanceof NotFoundError) return false
      throw error
    }
  }

  /**
   * The sandbox will now be killed (or paused, with lifecycle onTimeout 'pause') TIMEOUT_MS
   * from now (rounded up to whole seconds), not from its creation.
   */
  async setTimeout(timeoutMs: number, opts?: RequestOpts): Promise<void> {
    await this.call('PATCH', '/timeout', opts, { timeout: wholeSeconds(timeoutMs) })
  }

  /** Its SandboxInfo, whatever its state. */
  async getInfo(opts?: RequestOpts): Promise<SandboxInfo> {
    return sandboxInfo(await this.call('GET', '', opts))
  }

  /** True while the sandbox runs; false while paused, once killed, or if the daemon forgot it. */
  async isRunning(opts?: RequestOpts): Promise<boolean> {
    try {
      return (await this.getInfo(opts)).state === 'running'
    } catch (error) {
      if (error instanceof NotFoundError) return false
      throw error
    }
  }

  /**
   * What it used, oldest first, as E2B's SDK: the samples the daemon took from `start` to `end`
   * (Dates or unix seconds; absent: open), every 5 s for the last hour by default
   * (GET .../metrics/history); without `end`, the list ends with a reading taken now.
   */
  async getMetrics(opts?: RequestOpts & { start?: Date | number; end?: Date | number }): Promise<SandboxMetrics[]> {
    const query: Record<string, string> = {}
    if (opts?.start !== undefined) query.start = timeParam(opts.start)
    if (opts?.end !== undefined) query.end = timeParam(opts.end)
    const data = await this.context.transport
      .json({
        method: 'GET',
        path: sandboxRoute(this.sandboxId) + '/metrics/history',
        query,
        timeoutMs: this.context.timeout(opts),
        sandboxId: this.sandboxId,
        signal: opts?.signal,
      })
      .catch(sandboxNotFound)
    const samples = ((data?.metrics ?? []) as unknown[]).map(sandboxMetrics)
    if (opts?.end === undefined) samples.push(sandboxMetrics(await this.call('GET', '/metrics', opts)))
    return samples
  }

  /**
   * Freezes every process of the sandbox and stops its timeout clock; Sandbox.connect()
   * resumes it. Commands and file calls throw ConflictError meanwhile. true once paused.
   */
  async pause(opts?: RequestOpts): Promise<boolean> {
    const info = sandboxInfo(await this.call('POST', '/pause', opts))
    return info.state === 'paused'
  }

  private async call(method: string, tail: string, opts?: RequestOpts, json?: unknown): Promise<any> {
    return this.context.transport
      .json({
        method,
        path: sandboxRoute(this.sandboxId) + tail,
        json,
        timeoutMs: this.context.timeout(opts),
        sandboxId: this.sandboxId,
        signal: opts?.signal,
      })
      .catch(sandboxNotFound)
  }
}
