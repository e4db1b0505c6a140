// A schema check of Kubernetes objects, offline: the validators that the kubernetes-models
// package compiles from the Kubernetes OpenAPI schemas (types, formats such as quantities,
// required fields, enums), plus what kubeconform calls -strict: a field the schema does not know
// is an error (the OpenAPI schemas allow any, so "hostPid: true" for hostPID would pass, and
// the API server would drop it silently).
//
// Strictness without the schemas' text (the package ships compiled validators only): the
// document is validated through a Proxy that records which keys the validator looks up. A
// compiled validator reads every property its schema names; a schema that allows any key (a
// map, such as labels or a ConfigMap's data) enumerates the object's keys instead. A key of an
// object that was never read, in an object that was never enumerated, is not in the schema.

// kind -> the model's module, per apiVersion: "v1" is core, "apps/v1" is group apps.
function modelModule(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string" || !/^[A-Za-z]+$/.test(kind)) {
    return null;
  }
  const parts = apiVersion.split("/");
  if (parts.length > 2 || parts.some((p) => !/^[a-z0-9.]+$/.test(p))) return null;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

function watched(value, path, records) {
  if (value === null || typeof value !== "object") return value;
  const record = { path, value, read: new Set(), enumerated: false };
  records.push(record);
  const children = new Map();
  return new Proxy(value, {
    get(target, key, receiver) {
      const child = Reflect.get(target, key, receiver);
      if (typeof key !== "string") return child;
      record.read.add(key);
      if (child === null || typeof child !== "object") return child;
      if (!children.has(key)) children.set(key, watched(child, `${path}/${key}`, records));
      return children.get(key);
    },
    has(target, key) {
      if (typeof key === "string") record.read.add(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      record.enumerated = true;
      return Reflect.ownKeys(target);
    },
  });
}

// The problems of one parsed document, as "path: what" strings; [] when it is valid.
export async function validateDocument(doc) {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    return ["/: a Kubernetes object must be a mapping"];
  }
  const module = modelModule(doc.apiVersion, doc.kind);
  if (!module) return [`/: no apiVersion and kind to validate against`];
  let Model;
  try {
    Model = (await import(module))[doc.kind];
  } catch {
    return [`/: unknown apiVersion/kind ${doc.apiVersion} ${doc.kind}`];
  }
  if (typeof Model?.prototype?.validate !== "function") {
    return [`/: unknown apiVersion/kind ${doc.apiVersion} ${doc.kind}`];
  }
  const problems = [];
  const records = [];
  try {
    Model.prototype.validate.call(watched(doc, "", records));
  } catch (e) {
    problems.push(`schema: ${e.message}`);
  }
  for (const r of records) {
    if (Array.isArray(r.value) || r.enumerated) continue;
    for (const key of Object.keys(r.value)) {
      if (!r.read.has(key)) problems.push(`${r.path}/${key}: unknown field`);
    }
  }
  return problems;
}
