// Ports: a server on the sandbox's 127.0.0.1, reached from the host (/v1/sandboxes/{id}/ports...).

import type { RequestOpts, SandboxContext } from './context.js'
import { InvalidArgumentError, NotFoundError, SandboxNotFoundError, sandboxNotFound } from './errors.js'

/** A forwarded port, as sbx.listPorts() lists it. */
export interface PortForward {
  /** The port on the sandbox's 127.0.0.1. */
  port: number
  /** The unix socket on the host forwarded to it (the sandbox owner's, mode 0600). */
  unixSocket: string
  /** "127.0.0.1:N" on the host's loopback, once sbx.getHost() asked for it; else undefined. */
  host?: string
}

/** getHost()'s listener: the host's loopback, any free port (the daemon's default). */
const DEFAULT_LISTEN = '127.0.0.1:0'

function portForward(data: any): PortForward {
  return { port: data.port, unixSocket: data.unix_socket, host: data.host ?? undefined }
}

function portPath(port: number): string {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidArgumentError(`port must be an integer 1..65535, not ${String(port)}`, { code: 'invalid_argument' })
  }
  return `/ports/${port}`
}

/** The calls behind sbx.getHost(), getPortSocket(), closePort() and listPorts(). */
export class Ports {
  constructor(private readonly context: SandboxContext) {}

  async getHost(port: number, opts?: RequestOpts): Promise<string> {
    return portForward(await this.call('POST', portPath(port), opts, { listen: DEFAULT_LISTEN })).host as string
  }

  async getPortSocket(port: number, opts?: RequestOpts): Promise<string> {
    return portForward(await this.call('GET', portPath(port), opts)).unixSocket
  }

  async closePort(port: number, opts?: RequestOpts): Promise<boolean> {
    const path = portPath(port)
    try {
      await this.context.transport.request({
        method: 'DELETE',
        path: this.context.route + path,
        timeoutMs: this.context.timeout(opts),
        sandboxId: this.context.sandboxId,
        signal: opts?.signal,
      })
      return true
    } catch (error) {
      // A 404 that does not name the sandbox: the port was not forwarded.
      if (error instanceof NotFoundError && !(error instanceof SandboxNotFoundError)) return false
      throw error
    }
  }

  async listPorts(opts?: RequestOpts): Promise<PortForward[]> {
    const data = await this.call('GET', '/ports', opts)
    return ((data?.ports ?? []) as unknown[]).map(portForward)
  }

  private async call(method: string, tail: string, opts?: RequestOpts, json?: unknown): Promise<any> {
    return this.context.transport
      .json({
        method,
        path: this.context.route + tail,
        json,
        timeoutMs: this.context.timeout(opts),
        sandboxId: this.context.sandboxId,
        signal: opts?.signal,
      })
      .catch(sandboxNotFound)
  }
}
