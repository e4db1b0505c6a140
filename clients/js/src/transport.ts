// HTTP/1.1 to declawd over its Unix socket, with Node's own `http` (`socketPath`).
//
// Plain requests share a keep-alive pool (an http.Agent per socket path). An event stream gets
// a connection of its own (it stays busy for as long as the process or watch runs). A pooled
// connection the daemon closed while it sat idle (its idle_timeout_s) can fail the next request
// that takes it: such a request is sent again once on a fresh connection when repeating it
// cannot do anything twice (GET, HEAD, DELETE, or a PUT whose body is in memory).
//
// Errors: an answer >= 400 becomes the error of its code (errors.ts); a socket that cannot be
// reached or breaks becomes ConnectionError; no data for the request's timeout, TimeoutError.

import * as http from 'node:http'
import { Readable } from 'node:stream'

import {
  ConnectionError,
  PermissionDeniedError,
  SandboxError,
  TimeoutError,
  errorFromResponse,
} from './errors.js'

export const DEFAULT_SOCKET_PATH = '/run/declaw/declaw.sock'
/** How long a call waits for the daemon (without any data) unless it says otherwise. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000
const API_PREFIX = '/v1'
// Pooled connections per daemon; more requests at once wait for one (the daemon's default
// max_connections is 64, and event streams need their own).
const MAX_POOLED_SOCKETS = 32
// Idle pooled connections are closed after this, well before the daemon's idle_timeout_s (60).
const IDLE_SOCKET_MS = 30_000
const RETRY_SAFE_METHODS = new Set(['GET', 'HEAD', 'DELETE', 'PUT'])

/** The socket to use: the argument, else $DECLAW_SOCKET, else /run/declaw/declaw.sock. */
export function resolveSocketPath(socketPath?: string): string {
  return socketPath || process.env.DECLAW_SOCKET || DEFAULT_SOCKET_PATH
}

export type QueryValue = string | number | boolean | string[] | undefined | null
export type Body = string | Uint8Array | AsyncIterable<Uint8Array> | undefined

export interface RequestSpec {
  method: string
  /** The path under /v1, e.g. /sandboxes/sbx-1/files. */
  path: string
  query?: Record<string, QueryValue>
  /** Sent as JSON when not undefined; else `body`. */
  json?: unknown
  body?: Body
  headers?: Record<string, string>
  /** Socket inactivity timeout in ms; 0 for none; undefined for the transport's default. */
  timeoutMs?: number
  sandboxId?: string
  signal?: AbortSignal
}

export interface Answer {
  status: number
  headers: http.IncomingHttpHeaders
  body: Buffer
}

/** The JSON of an answer (undefined for an empty body). */
export function answerJson<T = any>(answer: Answer): T {
  return (answer.body.length ? JSON.parse(answer.body.toString('utf8')) : undefined) as T
}

export function target(path: string, query?: Record<string, QueryValue>): string {
  let url = API_PREFIX + path
  if (query) {
    const params = new URLSearchParams()
    for (const [key, value] of Object.entries(query)) {
      if (value === undefined || value === null) continue
      if (Array.isArray(value)) value.forEach((v) => params.append(key, v))
      else params.append(key, String(value))
    }
    const text = params.toString()
    if (text) url += '?' + text
  }
  return url
}

/** A pool of keep-alive connections to one daemon socket. */
export class Transport {
  readonly socketPath: string
  readonly requestTimeoutMs: number
  private readonly agent: http.Agent

  constructor(socketPath: string, requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS) {
    this.socketPath = socketPath
    this.requestTimeoutMs = requestTimeoutMs
    this.agent = new http.Agent({
      keepAlive: true,
      maxSockets: MAX_POOLED_SOCKETS,
      timeout: IDLE_SOCKET_MS,
    })
  }

  /** METHOD /v1PATH, the answer read in full. Throws the SandboxError of an error answer. */
  async request(spec: RequestSpec): Promise<Answer> {
    const replayable =
      RETRY_SAFE_METHODS.has(spec.method) && (spec.body === undefined || isInMemory(spec.body))
    try {
      return await this.exchange(spec, this.agent)
    } catch (e) {
      if (e instanceof StaleConnection && replayable) return this.exchange(spec, this.agent)
      throw e instanceof StaleConnection ? e.error : e
    }
  }

  /** The JSON answer of a request. */
  async json<T = any>(spec: RequestSpec): Promise<T> {
    return answerJson<T>(await this.request(spec))
  }

  /**
   * A request whose answer is read as it arrives (an event stream), on a connection of its
   * own. Resolves once a 2xx answer's headers are in; an error answer throws its error.
   */
  async open(spec: RequestSpec): Promise<http.IncomingMessage> {
    try {
      return await this.exchange(spec, false, true)
    } catch (e) {
      throw e instanceof StaleConnection ? e.error : e
    }
  }

  /** Closes the idle pooled connections (busy ones close when their request ends). */
  close(): void {
    this.agent.destroy()
  }

  private exchange(spec: RequestSpec, agent: http.Agent | false, stream: true): Promise<http.IncomingMessage>
  private exchange(spec: RequestSpec, agent: http.Agent | false): Promise<Answer>
  private exchange(spec: RequestSpec, agent: http.Agent | false, stream = false): Promise<Answer | http.IncomingMessage> {
    const what = `${spec.method} ${API_PREFIX}${spec.path}`
    const timeoutMs = spec.timeoutMs ?? this.requestTimeoutMs
    const headers: Record<string, string> = { Host: 'declaw', ...spec.headers }
    let body: Body = spec.body
    if (spec.json !== undefined) {
      body = JSON.stringify(spec.json)
      headers['Content-Type'] = 'application/json'
    }
    const payload = typeof body === 'string' ? Buffer.from(body, 'utf8') : body
    if (payload === undefined || isInMemory(payload)) {
      const length = payload === undefined ? 0 : payload.byteLength
      if (length || ['POST', 'PUT', 'PATCH'].includes(spec.method)) headers['Content-Length'] = String(length)
    } else {
      headers['Transfer-Encoding'] = 'chunked'
    }

    return new Promise((resolve, reject) => {
      let settled = false
      const fail = (error: unknown) => {
        if (settled) return
        settled = true
        reject(error)
      }
      const req = http.request({
        socketPath: this.socketPath,
        agent,
        method: spec.method,
        path: target(spec.path, spec.query),
        headers,
        timeout: timeoutMs,
        signal: spec.signal,
      })
      req.on('timeout', () => {
        req.destroy(
          new TimeoutError(
            `declawd did not answer ${what} within ${timeoutMs / 1000} s (raise requestTimeoutMs ` +
              'if the operation is expected to take longer)',
            { sandboxId: spec.sandboxId },
          ),
        )
      })
      req.on('error', (error: NodeJS.ErrnoException) => {
        const mapped = this.socketError(error, what, spec.sandboxId)
        // The daemon closed an idle pooled connection just as it was taken.
        if (req.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE')) {
          fail(new StaleConnection(mapped))
        } else {
          fail(mapped)
        }
      })
      req.on('response', (res) => {
        if (stream && res.statusCode! < 400) {
          settled = true
          res.socket.setTimeout(0) // the stream reader sets its own read timeout
          req.removeAllListeners('timeout')
          resolve(res)
          return
        }
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('error', (error) => fail(this.socketError(error, what, spec.sandboxId)))
        res.on('aborted', () =>
          fail(new ConnectionError(`the answer to ${what} was cut off: is declawd still running at ${this.socketPath}?`, { sandboxId: spec.sandboxId })),
        )
        res.on('end', () => {
          if (settled) return
          settled = true
          const data = Buffer.concat(chunks)
          if (res.statusCode! >= 400) reject(errorFromResponse(res.statusCode!, data, spec.sandboxId))
          else resolve({ status: res.statusCode!, headers: res.headers, body: data })
        })
      })
      if (payload === undefined) {
        req.end()
      } else if (isInMemory(payload)) {
        req.end(payload)
      } else {
        Readable.from(payload, { objectMode: false }).on('error', (e) => req.destroy(e)).pipe(req)
      }
    })
  }

  private socketError(error: NodeJS.ErrnoException, what: string, sandboxId?: string): Error {
    if (error instanceof SandboxError || error.name === 'AbortError') return error
    const where = this.socketPath
    switch (error.code) {
      case 'ENOENT':
      case 'ECONNREFUSED':
      case 'ENOTDIR':
        return new ConnectionError(
          `cannot reach declawd at ${where}: is the service running? (start it with ` +
            "'systemctl start declawd', or point DECLAW_SOCKET at its socket)",
          { sandboxId },
        )
      case 'EACCES':
        return new PermissionDeniedError(
          `permission denied on ${where}: run as root or as a member of the 'declaw' group`,
          { sandboxId },
        )
      default:
        return new ConnectionError(
          `declawd closed the connection during ${what} (${error.code ?? error.message}): is ` +
            `the service still running at ${where}?`,
          { sandboxId },
        )
    }
  }
}

/** A pooled connection that turned out closed; `error` is what to throw if not retried. */
class StaleConnection extends Error {
  constructor(readonly error: Error) {
    super(error.message)
  }
}

function isInMemory(body: Body | Buffer): body is Uint8Array {
  return body instanceof Uint8Array
}

const transports = new Map<string, Transport>()

/** The process-wide Transport of a socket path (resolved as resolveSocketPath() does). */
export function getTransport(socketPath?: string): Transport {
  const path = resolveSocketPath(socketPath)
  let transport = transports.get(path)
  if (!transport) {
    transport = new Transport(path)
    transports.set(path, transport)
  }
  return transport
}
