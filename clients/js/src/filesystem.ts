// sbx.files: the sandbox's filesystem (/v1/sandboxes/{id}/files...).
//
// Every operation runs inside the sandbox as `user` ('user', the default, or 'root'), so the
// sandbox's own permissions apply and paths cannot leave it. Relative paths and "~" are
// resolved against /home/user by the daemon. Contents travel as raw bytes
// (GET/PUT .../files/raw); a stream given to write() is sent in chunks as it is read.

import { Readable } from 'node:stream'

import type { Username } from './commands.js'
import type { RequestOpts, SandboxContext } from './context.js'
import { InvalidArgumentError, fileNotFound } from './errors.js'
import { type EntryInfo, type WriteInfo, entryInfo } from './models.js'
import { EventStream, type SseEvent } from './sse.js'
import type { Body, RequestSpec } from './transport.js'
import { type FilesystemEvent, WatchHandle } from './watchHandle.js'

export interface FilesystemRequestOpts extends RequestOpts {
  /** Act as 'user' (the default) or 'root' inside the sandbox. */
  user?: Username
}

export interface FilesystemReadOpts extends FilesystemRequestOpts {
  format?: 'text' | 'bytes' | 'blob' | 'stream'
}

export interface FilesystemListOpts extends FilesystemRequestOpts {
  /** How many levels to descend (1 .. 16; default 1). */
  depth?: number
}

export interface WatchOpts extends FilesystemRequestOpts {
  /** Watch subdirectories too (also those created later). Default false. */
  recursive?: boolean
  /** The watch stops after this many ms (default 60 s, as E2B's); 0 for no limit. */
  timeoutMs?: number
  /** Called once when the watch has ended, with the error when it ended by one. */
  onExit?: (error?: Error) => void | Promise<void>
}

/** What write() takes: text (written as UTF-8), bytes, a Blob, or a stream of bytes. */
export type WriteData =
  | string
  | ArrayBuffer
  | ArrayBufferView
  | Blob
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array>

export interface WriteEntry {
  path: string
  data: WriteData
}

/** The default of watchDir's timeoutMs, as E2B's. */
export const DEFAULT_WATCH_TIMEOUT_MS = 60_000

/** Files inside one sandbox. Get it as `sbx.files`. */
export class Filesystem {
  /** @internal */
  constructor(private readonly sandbox: SandboxContext) {}

  /**
   * The file's content: `format: 'text'` (the default) a string (bytes that are not UTF-8
   * become U+FFFD), 'bytes' a Uint8Array, 'blob' a Blob, 'stream' a ReadableStream of bytes.
   * FileNotFoundError for a missing path.
   */
  read(path: string, opts?: FilesystemReadOpts & { format?: 'text' }): Promise<string>
  read(path: string, opts: FilesystemReadOpts & { format: 'bytes' }): Promise<Uint8Array>
  read(path: string, opts: FilesystemReadOpts & { format: 'blob' }): Promise<Blob>
  read(path: string, opts: FilesystemReadOpts & { format: 'stream' }): Promise<ReadableStream<Uint8Array>>
  async read(path: string, opts: FilesystemReadOpts = {}): Promise<string | Uint8Array | Blob | ReadableStream<Uint8Array>> {
    const format = opts.format ?? 'text'
    if (!['text', 'bytes', 'blob', 'stream'].includes(format)) {
      throw new InvalidArgumentError(`format must be one of text, bytes, blob, stream, not '${format}'`)
    }
    const spec = this.spec('GET', 'files/raw', path, opts)
    if (format === 'stream') {
      const response = await this.sandbox.transport.open(spec).catch(fileNotFound)
      return Readable.toWeb(response) as ReadableStream<Uint8Array>
    }
    const answer = await this.sandbox.transport.request(spec).catch(fileNotFound)
    const bytes = new Uint8Array(answer.body.buffer, answer.body.byteOffset, answer.body.byteLength)
    if (format === 'bytes') return bytes
    if (format === 'blob') return new Blob([bytes])
    return new TextDecoder().decode(bytes)
  }

  /**
   * Creates or truncates the file (and its parent directories) and writes DATA; returns its
   * EntryInfo. Given an array of `{path, data}` entries instead, writes each of them, one after
   * the other (not atomically), and returns their EntryInfos.
   */
  write(path: string, data: WriteData, opts?: FilesystemRequestOpts): Promise<WriteInfo>
  write(files: WriteEntry[], opts?: FilesystemRequestOpts): Promise<WriteInfo[]>
  async write(
    pathOrFiles: string | WriteEntry[],
    dataOrOpts?: WriteData | FilesystemRequestOpts,
    opts?: FilesystemRequestOpts,
  ): Promise<WriteInfo | WriteInfo[]> {
    if (Array.isArray(pathOrFiles)) {
      const infos: WriteInfo[] = []
      for (const entry of pathOrFiles) {
        if (!entry || typeof entry.path !== 'string' || entry.data === undefined) {
          throw new InvalidArgumentError("each write() entry needs 'path' and 'data'")
        }
        infos.push(await this.writeOne(entry.path, entry.data, (dataOrOpts ?? {}) as FilesystemRequestOpts))
      }
      return infos
    }
    if (typeof pathOrFiles !== 'string') throw new InvalidArgumentError('write() takes a path and data, or an array of {path, data}')
    if (dataOrOpts === undefined || dataOrOpts === null) throw new InvalidArgumentError(`write('${pathOrFiles}'): no data`)
    return this.writeOne(pathOrFiles, dataOrOpts as WriteData, opts ?? {})
  }

  /** E2B's name for write(files). */
  async writeFiles(files: WriteEntry[], opts?: FilesystemRequestOpts): Promise<WriteInfo[]> {
    return this.write(files, opts)
  }

  /** The entries of a directory, descending `depth` levels; symlinks are listed, not followed. */
  async list(path: string, opts: FilesystemListOpts = {}): Promise<EntryInfo[]> {
    if (opts.depth !== undefined && opts.depth < 1) throw new InvalidArgumentError('depth should be at least one')
    const data = await this.json('GET', 'files/list', path, opts, { depth: opts.depth ?? 1 })
    return ((data?.entries ?? []) as unknown[]).map(entryInfo)
  }

  async exists(path: string, opts: FilesystemRequestOpts = {}): Promise<boolean> {
    const data = await this.json('GET', 'files/exists', path, opts)
    return Boolean(data?.exists)
  }

  /** Describes PATH (a symlink itself, not its target). */
  async getInfo(path: string, opts: FilesystemRequestOpts = {}): Promise<EntryInfo> {
    return entryInfo(await this.json('GET', 'files/info', path, opts))
  }

  /** Removes a file, or a directory with everything in it; a symlink is removed, not followed. */
  async remove(path: string, opts: FilesystemRequestOpts = {}): Promise<void> {
    await this.json('DELETE', 'files', path, opts)
  }

  /** Moves OLD_PATH to NEW_PATH (replacing a file there) and describes the result. */
  async rename(oldPath: string, newPath: string, opts: FilesystemRequestOpts = {}): Promise<EntryInfo> {
    return entryInfo(await this.json('PATCH', 'files', oldPath, opts, undefined, { new_path: newPath }))
  }

  /** Creates the directory and its parents: true if created, false if it already was one; a file there is ConflictError. */
  async makeDir(path: string, opts: FilesystemRequestOpts = {}): Promise<boolean> {
    const data = await this.json('POST', 'files/mkdir', path, opts)
    return Boolean(data?.created)
  }

  /**
   * Watches the directory PATH inside the sandbox (as `user`): `onEvent` gets each change
   * (create, write, remove, rename, chmod) with its name relative to PATH. Resolves once the
   * watch is in place, so changes made after that are seen. FileNotFoundError for a missing
   * path, InvalidArgumentError for one that is not a directory, TooLargeError when a
   * recursive watch would need more watches than the daemon's bound.
   */
  async watchDir(
    path: string,
    onEvent: (event: FilesystemEvent) => void | Promise<void>,
    opts: WatchOpts = {},
  ): Promise<WatchHandle> {
    const sbx = this.sandbox
    const spec = this.spec('GET', 'files/watch', path, opts, { recursive: opts.recursive ? 'true' : 'false' })
    const response = await sbx.transport.open(spec).catch(fileNotFound)
    const what = `the watch of ${path}`
    const stream = new EventStream(response, what, sbx.timeout(opts), sbx.sandboxId)
    const events = stream[Symbol.asyncIterator]()
    // The watch is in place once `start` came.
    let first: IteratorResult<SseEvent>
    try {
      first = await events.next()
    } catch (error) {
      stream.close()
      throw error
    }
    if (first.done || first.value.event !== 'start') {
      stream.close()
      const why = first.done ? 'the stream ended' : `'${first.value.event}' came first: ${JSON.stringify(first.value.data)}`
      throw new InvalidArgumentError(`${what} did not start (${why})`, { sandboxId: sbx.sandboxId })
    }
    const timeoutMs = opts.timeoutMs ?? DEFAULT_WATCH_TIMEOUT_MS
    return new WatchHandle(stream, events, what, sbx.sandboxId, onEvent, opts.onExit, timeoutMs)
  }

  private async writeOne(path: string, data: WriteData, opts: FilesystemRequestOpts): Promise<WriteInfo> {
    const spec = this.spec('PUT', 'files/raw', path, opts)
    spec.body = await uploadBody(data)
    spec.headers = { 'Content-Type': 'application/octet-stream' }
    return entryInfo(await this.sandbox.transport.json(spec).catch(fileNotFound))
  }

  private spec(
    method: string,
    route: string,
    path: string,
    opts: FilesystemRequestOpts,
    query: Record<string, string | number> = {},
  ): RequestSpec {
    return {
      method,
      path: `${this.sandbox.route}/${route}`,
      query: { path, user: opts.user ?? 'user', ...query },
      timeoutMs: this.sandbox.timeout(opts),
      sandboxId: this.sandbox.sandboxId,
      signal: opts.signal,
    }
  }

  private async json(
    method: string,
    route: string,
    path: string,
    opts: FilesystemRequestOpts,
    query?: Record<string, string | number>,
    payload?: unknown,
  ): Promise<any> {
    const spec = this.spec(method, route, path, opts, query)
    if (payload !== undefined) spec.json = payload
    return this.sandbox.transport.json(spec).catch(fileNotFound)
  }
}

/** DATA as a request body: bytes in memory, or chunks read as they are sent. */
async function uploadBody(data: WriteData): Promise<Body> {
  if (typeof data === 'string') return Buffer.from(data, 'utf8')
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  if (typeof Blob !== 'undefined' && data instanceof Blob) return new Uint8Array(await data.arrayBuffer())
  if (data && typeof (data as ReadableStream).getReader === 'function') {
    return Readable.fromWeb(data as import('node:stream/web').ReadableStream<Uint8Array>) as AsyncIterable<Uint8Array>
  }
  if (data && Symbol.asyncIterator in Object(data)) return data as AsyncIterable<Uint8Array>
  throw new InvalidArgumentError('write() data must be a string, an ArrayBuffer, a typed array, a Blob or a stream of bytes')
}
