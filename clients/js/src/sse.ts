// Server-Sent Events from declawd (docs/api.md, "Live output"; the file watch), read as they
// arrive. Events are `event: NAME` plus `data: JSON` lines and a blank line; `:` lines are
// comments (the daemon's keep-alive every 15 s of silence).

import type { IncomingMessage } from 'node:http'

import { ConnectionError, SandboxError, TimeoutError } from './errors.js'

// A guard against a broken peer, far above any event the daemon sends (one ring buffer's
// worth of output, as text plus base64).
const MAX_EVENT_BYTES = 64 << 20
/**
 * The daemon sends a keep-alive comment after 15 s of silence: a stream read waits at least
 * three of those before it decides the daemon is gone.
 */
export const MIN_READ_TIMEOUT_MS = 45_000

export interface SseEvent {
  event: string
  /** The data as JSON; a data line that is not a JSON object becomes `{data: text}`. */
  data: Record<string, any>
}

/** Events from the bytes of a stream, fed in any pieces. */
export class SseDecoder {
  private buffer: Buffer = Buffer.alloc(0)
  private name = 'message'
  private dataLines: string[] = []

  /** The events CHUNK completes. */
  feed(chunk: Uint8Array): SseEvent[] {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : Buffer.from(chunk)
    const events: SseEvent[] = []
    let start = 0
    for (;;) {
      const end = this.buffer.indexOf(0x0a, start)
      if (end < 0) break
      let line = this.buffer.subarray(start, end)
      if (line.length && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1)
      this.line(line.toString('utf8'), events)
      start = end + 1
    }
    this.buffer = this.buffer.subarray(start)
    if (this.buffer.length > MAX_EVENT_BYTES) {
      throw new SandboxError(`an event stream sent a line over ${MAX_EVENT_BYTES} bytes: is the socket really declawd's?`)
    }
    return events
  }

  /** At the end of the stream: a last line without a newline is still a line. */
  finish(): SseEvent[] {
    const events: SseEvent[] = []
    if (this.buffer.length) {
      let text = this.buffer.toString('utf8')
      if (text.endsWith('\r')) text = text.slice(0, -1)
      this.buffer = Buffer.alloc(0)
      this.line(text, events)
    }
    return events
  }

  private line(line: string, events: SseEvent[]): void {
    if (!line) {
      if (this.dataLines.length) events.push({ event: this.name, data: decode(this.dataLines.join('\n')) })
      this.name = 'message'
      this.dataLines = []
      return
    }
    if (line.startsWith(':')) return // a comment: the daemon's keep-alive
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    let value = colon < 0 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'event') this.name = value
    else if (field === 'data') this.dataLines.push(value)
    // "id" and "retry" mean nothing here.
  }
}

function decode(text: string): Record<string, any> {
  try {
    const value: unknown = JSON.parse(text)
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, any>
    return { data: value }
  } catch {
    return { data: text }
  }
}

/**
 * The events of one streamed answer, as they arrive. Ends at the end of the stream, or when the
 * answer is destroyed by close(). A read that waits longer than `readTimeoutMs` (raised to
 * MIN_READ_TIMEOUT_MS; 0 for none) throws TimeoutError; a connection cut off, ConnectionError.
 */
export class EventStream implements AsyncIterable<SseEvent> {
  private closed = false

  constructor(
    readonly response: IncomingMessage,
    private readonly what: string,
    readTimeoutMs: number,
    private readonly sandboxId?: string,
  ) {
    const timeout = readTimeoutMs === 0 ? 0 : Math.max(readTimeoutMs, MIN_READ_TIMEOUT_MS)
    if (timeout) {
      response.socket.setTimeout(timeout, () => {
        response.destroy(
          new TimeoutError(`declawd sent nothing on ${what} for ${timeout / 1000} s (not even a keep-alive)`, {
            sandboxId,
          }),
        )
      })
    }
  }

  /** Stops reading: the iteration ends (without an error) and the connection is closed. */
  close(): void {
    this.closed = true
    this.response.destroy()
  }

  get isClosed(): boolean {
    return this.closed
  }

  /** Whether an open stream keeps Node's event loop alive (it does unless unref'd). */
  ref(keepAlive: boolean): void {
    const socket = this.response.socket
    if (!socket) return
    if (keepAlive) socket.ref()
    else socket.unref()
  }

  async *[Symbol.asyncIterator](): AsyncIterator<SseEvent> {
    const decoder = new SseDecoder()
    try {
      for await (const chunk of this.response) {
        for (const event of decoder.feed(chunk as Buffer)) yield event
      }
    } catch (error) {
      if (this.closed) return
      if (error instanceof SandboxError) throw error
      throw new ConnectionError(
        `the event stream of ${this.what} was cut off (${(error as Error).message}): is declawd still running?`,
        { sandboxId: this.sandboxId },
      )
    } finally {
      this.response.destroy()
    }
    if (this.closed) return
    if (!this.response.complete) {
      throw new ConnectionError(`the event stream of ${this.what} was cut off: is declawd still running?`, {
        sandboxId: this.sandboxId,
      })
    }
    for (const event of decoder.finish()) yield event
  }
}
