#!/usr/bin/env node
/**
 * Makes a second revision of a repository written by generate.mjs, for the `meshops diff` row of
 * bench/check/run.mjs: a merge-request-sized set of realistic changes, from a seeded PRNG (same seed and
 * same input → byte-identical output). Files are rewritten in place; untouched files keep their bytes.
 *
 *   - traffic shifts: the canary weights of `shifts` Istio VirtualServices and `shifts / 2` Gateway API
 *     HTTPRoutes move (every weighted route of the object moves together, weights still sum to 100);
 *   - policies added: `added` Istio AuthorizationPolicies (DENY of the metrics port 9090 and /admin/* from outside
 *     the namespace: access closes), plus `added / 2` STRICT PeerAuthentications (apps that had none: mTLS changes);
 *   - policies removed: `removed` Istio ALLOW AuthorizationPolicies and `linkerdRemoved` (default `removed / 2`)
 *     Linkerd AuthorizationPolicies (access opens or closes), and `removed / 2` PeerAuthentications.
 *
 * Every change keeps the repository valid (no errors from `meshops check`).
 *
 * Usage: node bench/check/revise.mjs DIR [--seed N] [--shifts N] [--added N] [--removed N] [--linkerd-removed N]
 */
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, stringify } from "yaml";
import { prng } from "./generate.mjs";

const WEIGHTS = [0, 5, 10, 20, 25, 50, 75, 90, 100];

/** Picks n distinct items of xs (fewer if xs is shorter), in a seeded order. */
function sample(r, xs, n) {
  const pool = [...xs];
  const out = [];
  while (out.length < n && pool.length > 0) out.push(pool.splice(Math.floor(r.next() * pool.length), 1)[0]);
  return out;
}

/** A new weight for the second (canary) destination: different from the old one. */
function shifted(r, old) {
  const choices = WEIGHTS.filter((w) => w !== old);
  return r.pick(choices);
}

/**
 * Revises the repository in `dir` (files: paths relative to dir, as generate() returns them).
 * Returns { filesChanged, objectsBefore, objectsAfter, changes: { vsWeightShifts, routeWeightShifts, added: {...}, removed: {...} } }.
 */
export function revise({ dir, files, seed = 20240502, shifts = 40, added = 10, removed = 10, linkerdRemoved = Math.ceil(removed / 2) }) {
  const r = prng(seed);
  const docs = []; // { file, index, obj }
  const byFile = new Map();
  for (const f of files) {
    const objs = parseAllDocuments(readFileSync(join(dir, f), "utf8")).map((d) => d.toJS());
    byFile.set(f, objs);
    objs.forEach((obj, index) => docs.push({ file: f, index, obj }));
  }
  const objectsBefore = docs.length;
  const touched = new Set();
  const removedKeys = new Set(); // `${file}#${index}`
  const is = (d, apiPrefix, kind) => d.obj.kind === kind && d.obj.apiVersion.startsWith(apiPrefix);

  // --- traffic shifts
  const vsCanaries = docs.filter((d) => is(d, "networking.istio.io/", "VirtualService") && d.obj.spec.http.some((h) => h.route.length === 2));
  let vsWeightShifts = 0;
  for (const d of sample(r, vsCanaries, shifts)) {
    const old = d.obj.spec.http.find((h) => h.route.length === 2).route[1].weight;
    const w2 = shifted(r, old);
    for (const h of d.obj.spec.http) {
      if (h.route.length !== 2) continue;
      h.route[0].weight = 100 - w2;
      h.route[1].weight = w2;
    }
    touched.add(d.file);
    vsWeightShifts++;
  }
  const routeCanaries = docs.filter((d) => is(d, "gateway.networking.k8s.io/", "HTTPRoute") && d.obj.spec.rules.some((x) => x.backendRefs.length === 2));
  let routeWeightShifts = 0;
  for (const d of sample(r, routeCanaries, Math.ceil(shifts / 2))) {
    const old = d.obj.spec.rules.find((x) => x.backendRefs.length === 2).backendRefs[1].weight;
    const w2 = shifted(r, old);
    for (const rule of d.obj.spec.rules) {
      if (rule.backendRefs.length !== 2) continue;
      rule.backendRefs[0].weight = 100 - w2;
      rule.backendRefs[1].weight = w2;
    }
    touched.add(d.file);
    routeWeightShifts++;
  }

  // --- policies removed (chosen before the additions, so an added policy is never removed again)
  const remove = (list) => {
    for (const d of list) {
      removedKeys.add(`${d.file}#${d.index}`);
      touched.add(d.file);
    }
    return list.length;
  };
  const istioAllow = docs.filter((d) => is(d, "security.istio.io/", "AuthorizationPolicy") && d.obj.spec.action === "ALLOW");
  const linkerdAuthz = docs.filter((d) => is(d, "policy.linkerd.io/", "AuthorizationPolicy"));
  const peerAuthns = docs.filter((d) => is(d, "security.istio.io/", "PeerAuthentication"));
  const removedCounts = {
    istioAuthorizationPolicies: remove(sample(r, istioAllow, removed)),
    linkerdAuthorizationPolicies: remove(sample(r, linkerdAuthz, linkerdRemoved)),
    peerAuthentications: remove(sample(r, peerAuthns, Math.ceil(removed / 2))),
  };

  // --- policies added: to Istio apps (a DestinationRule names one) that keep their objects
  const istioApps = docs
    .filter((d) => is(d, "networking.istio.io/", "DestinationRule"))
    .map((d) => ({ file: d.file, ns: d.obj.metadata.namespace, app: d.obj.metadata.name }));
  const labels = (app, ns) => ({ "app.kubernetes.io/name": app, "app.kubernetes.io/part-of": ns, app });
  const append = (file, obj) => {
    byFile.get(file).push(obj);
    touched.add(file);
  };
  let denyAdded = 0;
  for (const { file, ns, app } of sample(r, istioApps, added)) {
    append(file, {
      apiVersion: "security.istio.io/v1",
      kind: "AuthorizationPolicy",
      metadata: { name: `${app}-deny-admin`, namespace: ns, labels: labels(app, ns) },
      spec: {
        selector: { matchLabels: { app } },
        action: "DENY",
        rules: [
          { from: [{ source: { notNamespaces: [ns] } }], to: [{ operation: { ports: ["9090"] } }] },
          { from: [{ source: { notNamespaces: [ns] } }], to: [{ operation: { paths: ["/admin/*", "/internal/*"] } }] },
        ],
      },
    });
    denyAdded++;
  }
  const hasPeerAuthn = new Set(peerAuthns.map((d) => `${d.obj.metadata.namespace}/${d.obj.metadata.name}`));
  let strictAdded = 0;
  for (const { file, ns, app } of sample(
    r,
    istioApps.filter((a) => !hasPeerAuthn.has(`${a.ns}/${a.app}`)),
    Math.ceil(added / 2),
  )) {
    append(file, {
      apiVersion: "security.istio.io/v1",
      kind: "PeerAuthentication",
      metadata: { name: app, namespace: ns, labels: labels(app, ns) },
      spec: { selector: { matchLabels: { app } }, mtls: { mode: "STRICT" } },
    });
    strictAdded++;
  }

  // --- write the touched files
  let objectsAfter = 0;
  for (const [file, objs] of byFile) {
    const kept = objs.filter((_, i) => !removedKeys.has(`${file}#${i}`));
    objectsAfter += kept.length;
    if (!touched.has(file)) continue;
    writeFileSync(join(dir, file), kept.map((o) => `---\n${stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })}`).join(""));
  }
  return {
    filesChanged: touched.size,
    objectsBefore,
    objectsAfter,
    changes: {
      vsWeightShifts,
      routeWeightShifts,
      added: { istioDenyAuthorizationPolicies: denyAdded, strictPeerAuthentications: strictAdded },
      removed: removedCounts,
    },
  };
}

/** One line for logs: "40 VirtualService + 20 HTTPRoute weight shifts, +15 / -20 policies in 71 files". */
export function describeRevision(s) {
  const add = Object.values(s.changes.added).reduce((a, b) => a + b, 0);
  const rem = Object.values(s.changes.removed).reduce((a, b) => a + b, 0);
  return `${s.changes.vsWeightShifts} VirtualService + ${s.changes.routeWeightShifts} HTTPRoute weight shifts, +${add} / -${rem} policies (${s.objectsBefore} → ${s.objectsAfter} objects) in ${s.filesChanged} files`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--seed" || a === "--shifts" || a === "--added" || a === "--removed") o[a.slice(2)] = Number(argv[++i]);
    else if (a === "--linkerd-removed") o.linkerdRemoved = Number(argv[++i]);
    else if (a === "-h" || a === "--help") {
      process.stdout.write("usage: node bench/check/revise.mjs DIR [--seed N] [--shifts N] [--added N] [--removed N] [--linkerd-removed N]   (DIR as written by generate.mjs)\n");
      process.exit(0);
    } else if (!o.dir) o.dir = resolve(a);
    else throw new Error(`unknown argument ${a}`);
  }
  if (!o.dir) throw new Error("usage: node bench/check/revise.mjs DIR");
  const files = readdirSync(join(o.dir, "manifests"), { recursive: true })
    .filter((f) => String(f).endsWith(".yaml"))
    .map((f) => join("manifests", String(f)))
    .sort();
  const s = revise({ ...o, files });
  process.stdout.write(`${describeRevision(s)}\n${JSON.stringify(s.changes, null, 2)}\n`);
}
