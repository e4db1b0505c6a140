// The daemon's JSON (docs/api.md) as the SDK's camelCase objects.

import { InvalidArgumentError } from './errors.js'

export type SandboxState = 'creating' | 'running' | 'paused' | 'killed'

/** The constant for "every address" in network rules (its value is the API's "0.0.0.0/0"). */
export const ALL_TRAFFIC = '0.0.0.0/0'

/** Egress rules of a sandbox (docs/api.md, "Network"). */
export interface SandboxNetworkOpts {
  /** IPs, CIDRs, domains, `*.domain` wildcards or ALL_TRAFFIC; given, everything else is denied. */
  allowOut?: string[]
  denyOut?: string[]
  /** Without internet access: TCP/UDP sockets that reach only the sandbox's own loopback. */
  loopbackInet?: boolean
}

export interface SandboxNetworkInfo {
  allowInternetAccess?: boolean
  loopbackInet?: boolean
  allowOut: string[]
  denyOut: string[]
  address: string | null
  gateway: string | null
  address6: string | null
  interface: string | null
  refused: { dns: number; proxy: number; firewallPackets: number }
}

export interface SandboxResources {
  /** Cores (a CFS quota). */
  cpu?: number
  memoryMB?: number
  pids?: number
  diskMB?: number
}

export interface SandboxLifecycle {
  /** What the timeout does: kill (the default) or pause the sandbox. */
  onTimeout: 'kill' | 'pause'
}

export interface SandboxInfo {
  sandboxId: string
  templateId: string
  /** The template's name (E2B's `name`; here the same as templateId). */
  name: string
  metadata: Record<string, string>
  envs: Record<string, string>
  startedAt: Date
  /** When the timeout will kill it (or killed it). */
  endAt: Date
  state: SandboxState
  cpuCount: number
  memoryMB: number
  allowInternetAccess: boolean
  network?: SandboxNetworkInfo
  lifecycle: SandboxLifecycle
  resources: Required<SandboxResources>
  ownerUid?: number
}

export interface SandboxMetrics {
  timestamp: Date
  cpuUsedPct: number
  cpuCount: number
  cpuCoresUsed: number
  memUsed: number
  memTotal: number
  diskUsed: number
  diskTotal: number
  pids: number
  pidsLimit: number
  oomKills: number
  netRxBytes: number | null
  netTxBytes: number | null
}

export type FileType = 'file' | 'dir' | 'symlink' | 'other'
/** E2B's enum of file types, as values (`FileType.DIR === 'dir'`). */
export const FileType = { FILE: 'file', DIR: 'dir', SYMLINK: 'symlink', OTHER: 'other' } as const

/** A file, directory or link in the sandbox. */
export interface EntryInfo {
  name: string
  type: FileType
  path: string
  size: number
  mode: number
  permissions: string
  owner: string
  group: string
  modifiedTime?: Date
  symlinkTarget?: string
}

/** What write() returns (E2B's name; the whole EntryInfo). */
export type WriteInfo = EntryInfo

/** A process the API started (docs/api.md, ProcessInfo). */
export interface ProcessInfo {
  pid: number
  /** The command line (for an argv command, its shell-quoted form). */
  cmd: string
  /** The argv of a command started as one, else ['/bin/bash', '-l', '-c', cmd]. */
  args: string[]
  user: string
  cwd?: string
  envs: Record<string, string>
  startedAt?: Date
  endedAt?: Date
  running: boolean
  exitCode: number | null
  signal: number | null
  timedOut: boolean
  isPty: boolean
  background: boolean
  stdinOpen: boolean
  error?: string
}

function date(value: unknown): Date | undefined {
  return typeof value === 'string' ? new Date(value) : undefined
}

export function sandboxInfo(data: any): SandboxInfo {
  const resources = data.resources ?? {}
  return {
    sandboxId: data.sandbox_id,
    templateId: data.template_id ?? '',
    name: data.template_id ?? '',
    metadata: { ...(data.metadata ?? {}) },
    envs: { ...(data.envs ?? {}) },
    startedAt: date(data.started_at) ?? new Date(0),
    endAt: date(data.end_at) ?? new Date(0),
    state: data.state ?? 'running',
    cpuCount: Number(resources.cpu ?? 0),
    memoryMB: Number(resources.memory_mb ?? 0),
    allowInternetAccess: Boolean(data.allow_internet_access),
    network: data.network ? networkInfo(data.network) : undefined,
    lifecycle: { onTimeout: data.lifecycle?.on_timeout ?? 'kill' },
    resources: {
      cpu: Number(resources.cpu ?? 0),
      memoryMB: Number(resources.memory_mb ?? 0),
      pids: Number(resources.pids ?? 0),
      diskMB: Number(resources.disk_mb ?? 0),
    },
    ownerUid: data.owner_uid ?? undefined,
  }
}

export function networkInfo(data: any): SandboxNetworkInfo {
  const refused = data.refused ?? {}
  return {
    allowInternetAccess: data.allow_internet_access,
    loopbackInet: data.loopback_inet,
    allowOut: [...(data.allow_out ?? [])],
    denyOut: [...(data.deny_out ?? [])],
    address: data.address ?? null,
    gateway: data.gateway ?? null,
    address6: data.address6 ?? null,
    interface: data.interface ?? null,
    refused: {
      dns: Number(refused.dns ?? 0),
      proxy: Number(refused.proxy ?? 0),
      firewallPackets: Number(refused.firewall_packets ?? 0),
    },
  }
}

export function sandboxMetrics(data: any): SandboxMetrics {
  return {
    timestamp: date(data.timestamp) ?? new Date(),
    cpuUsedPct: Number(data.cpu_used_pct ?? 0),
    cpuCount: Number(data.cpu_count ?? 0),
    cpuCoresUsed: Number(data.cpu_cores_used ?? 0),
    memUsed: Number(data.mem_used ?? 0),
    memTotal: Number(data.mem_total ?? 0),
    diskUsed: Number(data.disk_used ?? 0),
    diskTotal: Number(data.disk_total ?? 0),
    pids: Number(data.pids ?? 0),
    pidsLimit: Number(data.pids_limit ?? 0),
    oomKills: Number(data.oom_kills ?? 0),
    netRxBytes: data.net_rx_bytes ?? null,
    netTxBytes: data.net_tx_bytes ?? null,
  }
}

export function entryInfo(data: any): EntryInfo {
  return {
    name: data.name ?? '',
    type: data.type ?? 'file',
    path: data.path ?? '',
    size: Number(data.size ?? 0),
    mode: Number(data.mode ?? 0),
    permissions: data.permissions ?? '',
    owner: data.owner ?? '',
    group: data.group ?? '',
    modifiedTime: date(data.modified_time),
    symlinkTarget: data.symlink_target ?? undefined,
  }
}

export function processInfo(data: any): ProcessInfo {
  const cmd: string = data.cmd ?? ''
  return {
    pid: Number(data.pid),
    cmd,
    args: Array.isArray(data.argv) ? [...data.argv] : ['/bin/bash', '-l', '-c', cmd],
    user: data.user ?? '',
    cwd: data.cwd ?? undefined,
    envs: { ...(data.envs ?? {}) },
    startedAt: date(data.started_at),
    endedAt: date(data.ended_at),
    running: Boolean(data.running),
    exitCode: data.exit_code ?? null,
    signal: data.signal ?? null,
    timedOut: Boolean(data.timed_out),
    isPty: Boolean(data.is_pty),
    background: Boolean(data.background),
    stdinOpen: Boolean(data.stdin_open),
    error: data.error ?? undefined,
  }
}

/** CommandResult.error: why a command did not exit by itself, or undefined. */
export function exitError(signal: number | null | undefined, oomKilled = false): string | undefined {
  if (!signal) return undefined
  return `killed by signal ${signal}` + (oomKilled ? ' (out of memory)' : '')
}

/** A timeout in ms as the API takes it: whole seconds, rounded up (1 ms is 1 s, not "none"). */
export function wholeSeconds(ms: number): number {
  if (!(ms >= 0)) throw new InvalidArgumentError(`a timeout must be >= 0 ms, not ${ms}`)
  return Math.ceil(ms / 1000)
}

/** /sandboxes/ID, the id quoted so that no id can address another route. */
export function sandboxRoute(sandboxId: string): string {
  return '/sandboxes/' + encodeURIComponent(sandboxId)
}
