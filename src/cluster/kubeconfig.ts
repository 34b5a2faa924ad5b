/**
 * Kubeconfig loading and raw API GETs: the one place that knows how to reach a cluster.
 *
 * meshops reads kubeconfig files itself (kubectl's rules: `--kubeconfig`, else every file of `$KUBECONFIG`
 * merged with the first definition of each name winning, else `~/.kube/config`; relative file paths resolve
 * against the file that names them) instead of loading `@kubernetes/client-node`, whose import alone cost
 * 0.6–0.75 s of CPU on every command that reaches a cluster (bench/cluster). Supported credentials: bearer
 * tokens (inline or `tokenFile`), client certificates (inline or files), basic auth, exec credential plugins
 * (`client.authentication.k8s.io` ExecCredential: EKS, GKE, the GitLab agent's job token helpers…, cached
 * until they expire) and in-cluster service-account credentials. The legacy `auth-provider` plugins
 * (removed from kubectl in 1.26) are refused with a message pointing at their exec replacements.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { request, type RequestOptions } from "node:https";
import { request as httpRequest } from "node:http";
import { homedir } from "node:os";
import { delimiter, dirname, isAbsolute, join, resolve } from "node:path";
import { parse } from "yaml";
import { UnreachableError, UsageError } from "../errors.js";

export interface ClusterTarget {
  context?: string;
  kubeconfig?: string;
  inCluster?: boolean;
}

interface ExecConfig {
  apiVersion?: string;
  command: string;
  args?: string[];
  env?: { name: string; value: string }[] | null;
  installHint?: string;
  provideClusterInfo?: boolean;
}

/** A cluster entry, with certificate data already read from files. */
export interface ClusterEntry {
  name: string;
  server: string;
  /** PEM of the CA bundle (from certificate-authority-data or the file). */
  caData?: string;
  insecureSkipTlsVerify?: boolean;
  tlsServerName?: string;
}

/** A user entry, with file references resolved. */
export interface UserEntry {
  name: string;
  token?: string;
  tokenFile?: string;
  certData?: string;
  keyData?: string;
  username?: string;
  password?: string;
  exec?: ExecConfig;
  /** Directory of the kubeconfig file (exec commands run with relative paths resolved there). */
  dir: string;
}

export interface ContextEntry {
  name: string;
  cluster: string;
  user: string;
  namespace?: string;
}

/** What the client needs from a kubeconfig: the current cluster and context, and credentials for a request. */
export interface KubeTarget {
  getCurrentCluster(): ClusterEntry | null;
  getCurrentContext(): string;
  getContextObject(name: string): ContextEntry | null;
  getContexts(): ContextEntry[];
  getCurrentUser(): UserEntry | null;
  /** Adds TLS material and the Authorization header to request options (runs an exec plugin when needed). */
  applyToHTTPSOptions(opts: RequestOptions): Promise<void>;
}

type Raw = Record<string, unknown>;
const obj = (v: unknown): Raw => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Raw) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

function readPem(dir: string, file: string | undefined, data: string | undefined, what: string, source: string): string | undefined {
  if (data) return Buffer.from(data, "base64").toString("utf8");
  if (!file) return undefined;
  const p = isAbsolute(file) ? file : resolve(dir, file);
  try {
    return readFileSync(p, "utf8");
  } catch (e) {
    throw new UsageError(`kubeconfig ${source}: cannot read ${what} ${p}: ${(e as Error).message}`);
  }
}

interface ExecCredential {
  token?: string;
  certData?: string;
  keyData?: string;
  expiresAt?: number;
}

/** The kubeconfig's current context as a KubeTarget. */
class Kubeconfig implements KubeTarget {
  private execCache: { cred: ExecCredential; at: number } | undefined;

  constructor(
    private readonly clusters: Map<string, ClusterEntry>,
    private readonly users: Map<string, UserEntry>,
    private readonly contexts: Map<string, ContextEntry>,
    public current: string,
    private readonly source: string,
  ) {}

  getContexts(): ContextEntry[] {
    return [...this.contexts.values()];
  }

  getCurrentContext(): string {
    return this.current;
  }

  getContextObject(name: string): ContextEntry | null {
    return this.contexts.get(name) ?? null;
  }

  getCurrentCluster(): ClusterEntry | null {
    const ctx = this.contexts.get(this.current);
    return ctx ? (this.clusters.get(ctx.cluster) ?? null) : null;
  }

  getCurrentUser(): UserEntry | null {
    const ctx = this.contexts.get(this.current);
    return ctx ? (this.users.get(ctx.user) ?? null) : null;
  }

  async applyToHTTPSOptions(opts: RequestOptions): Promise<void> {
    const cluster = this.getCurrentCluster();
    const user = this.getCurrentUser();
    if (cluster?.caData) opts.ca = cluster.caData;
    if (cluster?.insecureSkipTlsVerify) opts.rejectUnauthorized = false;
    if (cluster?.tlsServerName) opts.servername = cluster.tlsServerName;
    const headers = (opts.headers ?? {}) as Record<string, string>;
    opts.headers = headers;
    if (!user) return;
    if (user.certData && user.keyData) {
      opts.cert = user.certData;
      opts.key = user.keyData;
    }
    if (user.token) headers.Authorization = `Bearer ${user.token}`;
    else if (user.tokenFile) headers.Authorization = `Bearer ${readFileSync(user.tokenFile, "utf8").trim()}`;
    else if (user.username !== undefined) headers.Authorization = `Basic ${Buffer.from(`${user.username}:${user.password ?? ""}`).toString("base64")}`;
    else if (user.exec) {
      const cred = await this.execCredential(user, cluster);
      if (cred.token) headers.Authorization = `Bearer ${cred.token}`;
      if (cred.certData && cred.keyData) {
        opts.cert = cred.certData;
        opts.key = cred.keyData;
      }
    }
  }

  /** Runs the exec credential plugin (once, or again when its credential expires). */
  private async execCredential(user: UserEntry, cluster: ClusterEntry | null): Promise<ExecCredential> {
    const now = Date.now();
    if (this.execCache && (this.execCache.cred.expiresAt === undefined || this.execCache.cred.expiresAt - 10_000 > now)) return this.execCache.cred;
    const exec = user.exec!;
    const apiVersion = exec.apiVersion ?? "client.authentication.k8s.io/v1";
    const info = { apiVersion, kind: "ExecCredential", spec: { interactive: false, ...(exec.provideClusterInfo && cluster ? { cluster: { server: cluster.server, ...(cluster.caData ? { "certificate-authority-data": Buffer.from(cluster.caData).toString("base64") } : {}) } } : {}) } };
    const env: NodeJS.ProcessEnv = { ...process.env, KUBERNETES_EXEC_INFO: JSON.stringify(info) };
    for (const e of exec.env ?? []) env[e.name] = e.value;
    const command = exec.command.includes("/") && !isAbsolute(exec.command) ? resolve(user.dir, exec.command) : exec.command;
    const out = await new Promise<string>((res, rej) => {
      execFile(command, exec.args ?? [], { env, timeout: 60_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err) rej(new UsageError(`kubeconfig user ${user.name}: the credential plugin ${exec.command} failed: ${(stderr || err.message).trim().split("\n")[0]}${exec.installHint ? ` (${exec.installHint.trim()})` : ""}`));
        else res(stdout);
      });
    });
    let status: Raw;
    try {
      status = obj(obj(JSON.parse(out)).status);
    } catch {
      throw new UsageError(`kubeconfig user ${user.name}: the credential plugin ${exec.command} did not print an ExecCredential`);
    }
    const exp = str(status.expirationTimestamp);
    const cred: ExecCredential = {
      ...(str(status.token) ? { token: str(status.token)! } : {}),
      ...(str(status.clientCertificateData) ? { certData: str(status.clientCertificateData)! } : {}),
      ...(str(status.clientKeyData) ? { keyData: str(status.clientKeyData)! } : {}),
      ...(exp ? { expiresAt: Date.parse(exp) } : {}),
    };
    if (!cred.token && !cred.certData) throw new UsageError(`kubeconfig user ${user.name}: the credential plugin ${exec.command} returned neither a token nor a client certificate`);
    this.execCache = { cred, at: now };
    return cred;
  }
}

/** The files kubectl would read: --kubeconfig, else $KUBECONFIG's list, else ~/.kube/config. */
function kubeconfigFiles(explicit: string | undefined): string[] {
  if (explicit) return [explicit];
  const env = process.env.KUBECONFIG;
  if (env) return env.split(delimiter).filter((p) => p !== "");
  return [join(homedir(), ".kube", "config")];
}

/** Parses and merges kubeconfig files (the first definition of a name wins, as kubectl merges them). */
export function parseKubeconfigs(files: { path: string; text: string }[]): Kubeconfig {
  const clusters = new Map<string, ClusterEntry>();
  const users = new Map<string, UserEntry>();
  const contexts = new Map<string, ContextEntry>();
  let current = "";
  const source = files.map((f) => f.path).join(delimiter);
  for (const f of files) {
    let doc: Raw;
    try {
      doc = obj(parse(f.text));
    } catch (e) {
      throw new UsageError(`cannot read kubeconfig ${f.path}: ${(e as Error).message.split("\n")[0]}`);
    }
    const dir = dirname(resolve(f.path));
    for (const c of arr(doc.clusters).map(obj)) {
      const name = str(c.name);
      const cl = obj(c.cluster);
      if (!name || clusters.has(name)) continue;
      const server = str(cl.server) ?? "";
      const caData = readPem(dir, str(cl["certificate-authority"]), str(cl["certificate-authority-data"]), "the certificate authority", f.path);
      clusters.set(name, {
        name,
        server,
        ...(caData ? { caData } : {}),
        ...(cl["insecure-skip-tls-verify"] === true ? { insecureSkipTlsVerify: true } : {}),
        ...(str(cl["tls-server-name"]) ? { tlsServerName: str(cl["tls-server-name"])! } : {}),
      });
    }
    for (const u of arr(doc.users).map(obj)) {
      const name = str(u.name);
      const us = obj(u.user);
      if (!name || users.has(name)) continue;
      if (us["auth-provider"] !== undefined) {
        const provider = str(obj(us["auth-provider"]).name) ?? "?";
        users.set(name, { name, dir, exec: { command: `__auth_provider_${provider}` } });
        continue;
      }
      const certData = readPem(dir, str(us["client-certificate"]), str(us["client-certificate-data"]), "the client certificate", f.path);
      const keyData = readPem(dir, str(us["client-key"]), str(us["client-key-data"]), "the client key", f.path);
      const tokenFile = str(us.tokenFile);
      const ex = obj(us.exec);
      users.set(name, {
        name,
        dir,
        ...(str(us.token) ? { token: str(us.token)! } : {}),
        ...(tokenFile ? { tokenFile: isAbsolute(tokenFile) ? tokenFile : resolve(dir, tokenFile) } : {}),
        ...(certData ? { certData } : {}),
        ...(keyData ? { keyData } : {}),
        ...(str(us.username) ? { username: str(us.username)!, password: str(us.password) ?? "" } : {}),
        ...(str(ex.command) ? { exec: ex as unknown as ExecConfig } : {}),
      });
    }
    for (const c of arr(doc.contexts).map(obj)) {
      const name = str(c.name);
      const cx = obj(c.context);
      if (!name || contexts.has(name)) continue;
      contexts.set(name, { name, cluster: str(cx.cluster) ?? "", user: str(cx.user) ?? "", ...(str(cx.namespace) ? { namespace: str(cx.namespace)! } : {}) });
    }
    if (!current && str(doc["current-context"])) current = str(doc["current-context"])!;
  }
  return new Kubeconfig(clusters, users, contexts, current, source);
}

/** In-cluster credentials: the pod's service account (token re-read per request, as it is rotated). */
function inClusterConfig(): Kubeconfig {
  const dir = "/var/run/secrets/kubernetes.io/serviceaccount";
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? "443";
  if (!host || !existsSync(join(dir, "token"))) throw new UsageError(`in-cluster credentials are not available (KUBERNETES_SERVICE_HOST unset or ${dir}/token missing): meshops is not running in a pod`);
  const server = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  const namespace = existsSync(join(dir, "namespace")) ? readFileSync(join(dir, "namespace"), "utf8").trim() : undefined;
  const caData = existsSync(join(dir, "ca.crt")) ? readFileSync(join(dir, "ca.crt"), "utf8") : undefined;
  return new Kubeconfig(
    new Map([["in-cluster", { name: "in-cluster", server, ...(caData ? { caData } : {}) }]]),
    new Map([["in-cluster", { name: "in-cluster", dir, tokenFile: join(dir, "token") }]]),
    new Map([["in-cluster", { name: "in-cluster", cluster: "in-cluster", user: "in-cluster", ...(namespace ? { namespace } : {}) }]]),
    "in-cluster",
    "in-cluster",
  );
}

/** Loads the kubeconfig for a target: --kubeconfig/$KUBECONFIG/~/.kube/config, or in-cluster credentials. */
export function loadKubeConfig(target: ClusterTarget): KubeTarget {
  if (target.inCluster) return inClusterConfig();
  const paths = kubeconfigFiles(target.kubeconfig);
  const files: { path: string; text: string }[] = [];
  for (const p of paths) {
    try {
      files.push({ path: p, text: readFileSync(p, "utf8") });
    } catch (e) {
      // kubectl skips missing files of a $KUBECONFIG list; an explicit or the only file must exist
      if (paths.length > 1 && (e as NodeJS.ErrnoException).code === "ENOENT" && !target.kubeconfig) continue;
      throw new UsageError(`cannot read kubeconfig ${target.kubeconfig ?? p}: ${(e as Error).message}`);
    }
  }
  const kc = parseKubeconfigs(files);
  if (target.context) {
    if (!kc.getContextObject(target.context)) {
      throw new UsageError(`kubeconfig has no context "${target.context}" (it has: ${kc.getContexts().map((c) => c.name).join(", ") || "none"})`);
    }
    kc.current = target.context;
  }
  if (!kc.getCurrentCluster()) throw new UsageError("kubeconfig has no current context: pass --context");
  const user = kc.getCurrentUser();
  const provider = user?.exec?.command.match(/^__auth_provider_(.*)$/)?.[1];
  if (provider !== undefined) {
    throw new UsageError(`kubeconfig user ${user!.name} uses the auth-provider plugin "${provider}", which kubectl removed in 1.26: use its exec credential plugin (e.g. gke-gcloud-auth-plugin, kubelogin)`);
  }
  return kc;
}

/** GET a path on the API server as JSON; unreachable servers become UnreachableError (exit 3). */
export async function getJson(kc: KubeTarget, path: string, timeoutMs = 30_000): Promise<unknown> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new UsageError("kubeconfig has no current cluster");
  const url = new URL(path, cluster.server.endsWith("/") ? cluster.server : `${cluster.server}/`);
  const opts: RequestOptions = { method: "GET", headers: { Accept: "application/json" }, timeout: timeoutMs };
  await kc.applyToHTTPSOptions(opts);
  const send = url.protocol === "http:" ? httpRequest : request;
  return new Promise((resolvePromise, reject) => {
    const req = send(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        if ((res.statusCode ?? 0) >= 400) {
          let msg = body.slice(0, 300);
          try {
            msg = (JSON.parse(body) as { message?: string }).message ?? msg;
          } catch {
            // not a Status object
          }
          reject(new UsageError(`GET ${url.pathname}: ${res.statusCode} ${msg}`));
          return;
        }
        try {
          resolvePromise(JSON.parse(body));
        } catch {
          reject(new UsageError(`GET ${url.pathname}: response is not JSON`));
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (e) => reject(new UnreachableError(`cluster ${cluster.name} at ${cluster.server} is unreachable: ${e.message}`)));
    req.end();
  });
}
