// packaging.kubernetes: every manifest of packaging/kubernetes is a valid Kubernetes object
// (k8s_validate.mjs: schema and unknown fields), and the facts no schema knows hold: the probes
// ask the socket declawd listens on, clients mount the directory declawd's socket is in and
// carry the socket's group, declawd accepts the ConfigMap's config.json, and every privilege
// has its reason written next to it. Needs `npm ci` here (scripts/install-deps.sh) and, for
// the config check, declawd in $DECLAW_BIN_DIR (ctest sets it to the build's bin/).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
for (const dependency of ["yaml", "kubernetes-models"]) {
  if (!fs.existsSync(path.join(here, "node_modules", dependency, "package.json"))) {
    throw new Error(
      `tests/packaging_k8s has no node_modules/${dependency}: run scripts/install-deps.sh ` +
        "(npm ci in tests/packaging_k8s)",
    );
  }
}
const { parseAllDocuments } = await import("yaml");
const { validateDocument } = await import("./k8s_validate.mjs");
const repo = path.resolve(here, "..", "..");
const k8sDir = path.join(repo, "packaging", "kubernetes");
const binDir = process.env.DECLAW_BIN_DIR || path.join(repo, "build", "bin");

function manifestFiles(dir = k8sDir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...manifestFiles(p));
    else if (/\.ya?ml$/.test(entry.name)) out.push(p);
  }
  return out.sort();
}

function parseFile(file) {
  const docs = parseAllDocuments(fs.readFileSync(file, "utf8"));
  for (const d of docs) {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join("; ")}`);
  }
  return docs.map((d) => d.toJS()).filter((d) => d !== null);
}

const objects = manifestFiles().flatMap((file) =>
  parseFile(file).map((doc) => ({ file: path.relative(repo, file), doc })),
);
function only(kind) {
  const found = objects.filter((o) => o.doc.kind === kind);
  assert.equal(found.length, 1, `exactly one ${kind} in packaging/kubernetes`);
  return found[0].doc;
}
const daemonSet = only("DaemonSet");
const configMap = only("ConfigMap");
const clientPod = only("Pod");
const daemonPod = daemonSet.spec.template.spec;
const declawd = daemonPod.containers.find((c) => c.name === "declawd");
const containerfile = fs.readFileSync(path.join(k8sDir, "Containerfile"), "utf8");

// --flag=value or --flag value among a container's args.
function flagOf(args, flag) {
  for (let i = 0; i < args.length; i++) {
    if (args[i].startsWith(`${flag}=`)) return args[i].slice(flag.length + 1);
    if (args[i] === flag) return args[i + 1];
  }
  return undefined;
}
// The volume behind the mount that holds `file` in `container` of `podSpec`.
function volumeHolding(podSpec, container, file) {
  const mount = (container.volumeMounts ?? [])
    .filter((m) => file === m.mountPath || file.startsWith(`${m.mountPath}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  assert.ok(mount, `${file} is on a volume of container ${container.name}`);
  const volume = podSpec.volumes.find((v) => v.name === mount.name);
  assert.ok(volume, `volume ${mount.name} exists`);
  return { mount, volume };
}

test("the validator refuses what the API server would refuse or silently drop", async () => {
  const pod = () => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "p", labels: { "example.com/any-key": "x" } },
    spec: { containers: [{ name: "c", image: "i", resources: { limits: { memory: "64Mi" } } }] },
  });
  assert.deepEqual(await validateDocument(pod()), [], "a correct pod (labels: any keys) passes");

  const typo = pod();
  typo.spec.hostPid = true;
  assert.deepEqual(await validateDocument(typo), ["/spec/hostPid: unknown field"]);

  const nested = pod();
  nested.spec.containers[0].readinessProbe = { exec: { command: ["true"] }, periodSecond: 5 };
  assert.deepEqual(await validateDocument(nested), [
    "/spec/containers/0/readinessProbe/periodSecond: unknown field",
  ]);

  const wrongType = pod();
  wrongType.spec.containers[0].securityContext = { privileged: "yes" };
  assert.match((await validateDocument(wrongType)).join("\n"), /privileged must be boolean/);

  const badQuantity = pod();
  badQuantity.spec.containers[0].resources.limits.memory = "16 GB";
  assert.match((await validateDocument(badQuantity)).join("\n"), /quantity/);

  const missing = pod();
  delete missing.spec.containers;
  assert.match((await validateDocument(missing)).join("\n"), /containers/);

  assert.match(
    (await validateDocument({ apiVersion: "v1", kind: "NoSuchKind" })).join("\n"),
    /unknown apiVersion\/kind/,
  );
});

test("every manifest is a valid Kubernetes object with no unknown field", async () => {
  assert.ok(objects.length >= 4, "namespace, ConfigMap, DaemonSet and the client pod");
  for (const { file, doc } of objects) {
    assert.deepEqual(await validateDocument(doc), [], `${file} (${doc.kind} ${doc.metadata?.name})`);
  }
});

test("every object but the namespace is in the declaw namespace", () => {
  const ns = only("Namespace");
  for (const { file, doc } of objects) {
    if (doc.kind !== "Namespace") assert.equal(doc.metadata.namespace, ns.metadata.name, file);
  }
  // hostPath volumes are outside Pod Security "baseline": the namespace must allow them.
  assert.equal(ns.metadata.labels["pod-security.kubernetes.io/enforce"], "privileged");
});

test("each privilege of a pod has its reason in a comment right above it", () => {
  const privileged =
    /^\s*-?\s*((privileged|hostPID|hostNetwork|hostIPC|hostUsers|hostPath):|runAsUser: 0\b|type: Unconfined)/;
  for (const file of manifestFiles()) {
    const lines = fs.readFileSync(file, "utf8").split("\n");
    lines.forEach((line, i) => {
      if (!privileged.test(line)) return;
      // The comment is the line above, or above the list item / volume this line belongs to.
      let j = i - 1;
      while (j >= 0 && /^\s*(- name:|name:)/.test(lines[j])) j--;
      assert.match(lines[j] ?? "", /^\s*#/, `${path.relative(repo, file)}:${i + 1}: ${line.trim()}`);
    });
  }
});

test("declawd runs privileged in the host's user namespace, without the host's network or pids", () => {
  assert.equal(declawd.securityContext.privileged, true);
  assert.equal(daemonPod.hostUsers, true);
  assert.equal(daemonPod.hostNetwork, undefined);
  assert.equal(daemonPod.hostPID, undefined);
  assert.equal(daemonPod.hostIPC, undefined);
  assert.ok(declawd.resources.requests.cpu && declawd.resources.requests.memory);
  assert.ok(declawd.resources.limits.memory);
});

test("the probes ask GET /v1/health on the socket declawd listens on", () => {
  const socket = flagOf(declawd.args, "--socket");
  assert.ok(socket, "declawd's --socket is given");
  for (const name of ["startupProbe", "readinessProbe", "livenessProbe"]) {
    const cmd = declawd[name]?.exec?.command;
    assert.ok(cmd, `${name} is an exec probe`);
    assert.equal(cmd[0], "curl");
    assert.equal(flagOf(cmd, "--unix-socket"), socket, `${name} uses declawd's socket`);
    assert.ok(cmd.includes("-fsS") || cmd.includes("-f"), `${name} fails on an HTTP error`);
    assert.match(cmd[cmd.length - 1], /^http:\/\/[^/]+\/v1\/health$/);
  }
  assert.match(containerfile, /apt-get install[\s\S]*\bcurl\b/, "the image has curl for them");
});

test("declawd's socket, state and data are host directories; its config is the ConfigMap", () => {
  const socket = flagOf(declawd.args, "--socket");
  const run = volumeHolding(daemonPod, declawd, socket);
  assert.equal(run.volume.hostPath.path, run.mount.mountPath, "the socket has the same path on the host");
  const stateDir = flagOf(declawd.args, "--state-dir");
  assert.equal(volumeHolding(daemonPod, declawd, stateDir).volume.name, run.volume.name);
  assert.ok(volumeHolding(daemonPod, declawd, flagOf(declawd.args, "--data-dir")).volume.hostPath);

  const config = flagOf(declawd.args, "--config");
  const { mount, volume } = volumeHolding(daemonPod, declawd, config);
  assert.equal(volume.configMap.name, configMap.metadata.name);
  assert.ok(path.basename(config) in configMap.data, "the ConfigMap has the file declawd reads");
  assert.equal(mount.mountPath, path.dirname(config));
  // No `command`: the image's ENTRYPOINT (tini, then the cgroup step of entrypoint.sh) runs,
  // with these args for declawd.
  assert.equal(declawd.command, undefined);
  assert.match(containerfile, /COPY packaging\/kubernetes\/entrypoint\.sh (\S+)/);
  const entry = containerfile.match(/COPY packaging\/kubernetes\/entrypoint\.sh (\S+)/)[1];
  assert.ok(containerfile.includes(`ENTRYPOINT ["/usr/bin/tini", "--", "${entry}"]`));
});

test("the client pod reaches declawd's socket: same directory, read-only, the socket's group", () => {
  const socket = flagOf(declawd.args, "--socket");
  const daemonRun = volumeHolding(daemonPod, declawd, socket).volume.hostPath.path;
  const client = clientPod.spec.containers[0];
  const env = Object.fromEntries((client.env ?? []).map((e) => [e.name, e.value]));
  const clientSocket = env.DECLAW_SOCKET ?? "/run/declaw/declaw.sock";
  assert.equal(clientSocket, socket, "the client asks the path declawd listens on");
  const { mount, volume } = volumeHolding(clientPod.spec, client, clientSocket);
  assert.equal(volume.hostPath.path, daemonRun, "the host directory declawd's socket is in");
  assert.notEqual(mount.mountPath, clientSocket, "the directory, not the socket file, is mounted");
  assert.equal(mount.readOnly, true);
  assert.deepEqual(client.command.slice(0, 3), ["declawctl", "run", "--"]);

  const config = JSON.parse(configMap.data["config.json"]);
  const group = config.socket_group ?? "declaw";
  const gid = containerfile.match(new RegExp(`groupadd [^\\n]*--gid (\\d+) ${group}\\b`));
  assert.ok(gid, `the image makes the socket's group ${group} with a fixed gid`);
  assert.ok(clientPod.spec.securityContext.supplementalGroups.includes(Number(gid[1])));
  assert.notEqual(clientPod.spec.securityContext.runAsUser, 0, "the example client is not root");
});

// The keys daemon/config.cc reads: read("key", ...), readOptional("key", ...), and the ones it
// adds to `known` by hand.
function configKeys() {
  const source = fs.readFileSync(path.join(repo, "daemon", "config.cc"), "utf8");
  const keys = new Set();
  for (const m of source.matchAll(/\b(?:read|readOptional)\("([a-z0-9_]+)"/g)) keys.add(m[1]);
  for (const m of source.matchAll(/known\.insert\("([a-z0-9_]+)"\)/g)) keys.add(m[1]);
  return keys;
}

test("the ConfigMap's config.json is a JSON object of keys declawd knows and documents", () => {
  const config = JSON.parse(configMap.data["config.json"]);
  const known = configKeys();
  assert.ok(known.has("max_sandboxes") && known.has("socket_group"), "config.cc's keys were found");
  const docs = fs.readFileSync(path.join(repo, "docs", "operations.md"), "utf8");
  for (const key of Object.keys(config)) {
    assert.ok(known.has(key), `daemon/config.cc reads "${key}"`);
    assert.ok(docs.includes(`\`${key}\``), `docs/operations.md documents "${key}"`);
  }
  assert.ok(config.default_memory_mb <= config.max_memory_mb);
});

// declawd loads --config (and checks the network settings) before it checks that it is root:
// run as nobody, a config it accepts ends in "must run as root" (1), one it refuses in a
// message naming the problem (2). Nothing is started either way.
function declawdJudges(configText) {
  const declawdPath = path.join(binDir, "declawd");
  assert.ok(fs.existsSync(declawdPath), `${declawdPath} is built`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "declaw-k8s-"));
  try {
    const file = path.join(dir, "config.json");
    fs.writeFileSync(file, configText);
    fs.chmodSync(dir, 0o755);
    fs.chmodSync(file, 0o644);
    const asNobody = process.getuid() === 0 ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : [];
    const argv = [...asNobody, declawdPath, "--config", file, "--socket", path.join(dir, "s.sock"),
      "--state-dir", path.join(dir, "state")];
    const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8", timeout: 20000 });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test("declawd's config loader accepts the ConfigMap's config.json as it is", () => {
  const r = declawdJudges(configMap.data["config.json"]);
  assert.equal(r.status, 1, r.output);
  assert.match(r.output, /must run as root/, "declawd got past its config");
});

test("declawd's config loader refuses a config.json with an unknown key (the check can fail)", () => {
  const config = JSON.parse(configMap.data["config.json"]);
  config.max_sandboxs = 3;
  const r = declawdJudges(JSON.stringify(config));
  assert.equal(r.status, 2, r.output);
  assert.match(r.output, /unknown key 'max_sandboxs'/);
});
