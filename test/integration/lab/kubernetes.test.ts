/**
 * The lab Kubernetes API server through @kubernetes/client-node 2.x over HTTPS, with the lab kubeconfig
 * (operator), a token of the `nobody` identity, and the control plane's managed identity token.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { DefaultAzureCredential } from "@azure/identity";
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  NetworkingV1Api,
  PatchStrategy,
  Watch,
  setHeaderOptions,
  type V1Secret,
} from "@kubernetes/client-node";
import type { KeyVaultApi } from "../../../emulator/lab/keyvault/api.js";
import { startTestLab, type TestLab } from "../../support/lab.js";
import { kubernetesApi, type KubeChange } from "../../../emulator/lab/kubernetes/api.js";
import { AKS_SERVER_APP_ID } from "../../../emulator/lab/kubernetes/service.js";

let lab: TestLab;
let kc: KubeConfig;
let core: CoreV1Api;

before(async () => {
  lab = await startTestLab();
  kc = new KubeConfig();
  kc.loadFromFile(lab.endpoints.kubeconfig as string);
  core = kc.makeApiClient(CoreV1Api);
});
after(() => lab?.dispose());

interface StatusBody {
  kind: string;
  reason: string;
  message: string;
  code: number;
  details?: {
    name?: string;
    kind?: string;
    causes?: Array<{ reason: string; field: string; message: string }>;
  };
}

/** Runs `fn`, expects an ApiException, and returns its code and Status body. */
async function rejected(
  fn: () => Promise<unknown>,
): Promise<{ code: number; status: StatusBody; headers: Record<string, string> }> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof ApiException, `expected an ApiException, got ${String(e)}`);
    const body = typeof e.body === "string" ? (JSON.parse(e.body) as StatusBody) : (e.body as StatusBody);
    return { code: e.code, status: body, headers: e.headers };
  }
  assert.fail("the call succeeded");
}

/** A KubeConfig for the lab cluster with another bearer token. */
function configWithToken(token: string): KubeConfig {
  const cluster = kc.getCurrentCluster()!;
  const other = new KubeConfig();
  other.loadFromOptions({
    clusters: [cluster],
    users: [{ name: "u", token }],
    contexts: [{ name: "c", cluster: cluster.name, user: "u" }],
    currentContext: "c",
  });
  return other;
}

const b64 = (s: string) => Buffer.from(s).toString("base64");
const opaque = (name: string, data: Record<string, string>, labels?: Record<string, string>): V1Secret => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name, labels },
  type: "Opaque",
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
});

async function until<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  ms = 5000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("the seed: the ingress TLS Secret, the client CA Secret, the Ingress and the Deployment", async () => {
  const tlsSecret = await core.readNamespacedSecret({ name: "backend-tls", namespace: "api" });
  assert.equal(tlsSecret.type, "kubernetes.io/tls");
  assert.equal(tlsSecret.metadata?.annotations?.["cert-rotation.e2e/certificate"], "kv-contoso/ingress-tls");
  const chain = Buffer.from(tlsSecret.data!["tls.crt"]!, "base64").toString();
  const leaf = new X509Certificate(chain);
  assert.match(leaf.subjectAltName ?? "", /DNS:backend\.contoso\.test/);
  // assert.ok, not assert.match: a failure must not print what tls.key holds.
  assert.ok(
    /BEGIN (RSA |EC )?PRIVATE KEY/.test(Buffer.from(tlsSecret.data!["tls.key"]!, "base64").toString()),
    "tls.key holds a PEM private key",
  );
  // It names the vault version it carries, as the control plane's writes do.
  const current = (lab.ctx.registry.get("keyvault") as KeyVaultApi).currentVersion(
    "kv-contoso",
    "ingress-tls",
  )!;
  assert.equal(tlsSecret.metadata?.annotations?.["cert-rotation.e2e/version"], current.version);
  assert.equal(
    tlsSecret.metadata?.annotations?.["cert-rotation.e2e/thumbprint"],
    leaf.fingerprint.replaceAll(":", ""),
  );
  assert.equal(current.thumbprint, leaf.fingerprint.replaceAll(":", ""));
  const ca = await core.readNamespacedSecret({ name: "apim-client-ca", namespace: "api" });
  assert.equal(
    Buffer.from(ca.data!["ca.crt"]!, "base64").toString().trim(),
    readFileSync(lab.endpoints.caCert as string, "utf8").trim(),
  );
  const ingresses = await kc.makeApiClient(NetworkingV1Api).listNamespacedIngress({ namespace: "api" });
  const backend = ingresses.items.find((i) => i.metadata?.name === "backend");
  assert.deepEqual(
    backend?.spec?.tls?.map((t) => ({ hosts: t.hosts, secretName: t.secretName })),
    [{ hosts: ["backend.contoso.test"], secretName: "backend-tls" }],
  );
  assert.equal(
    backend?.metadata?.annotations?.["nginx.ingress.kubernetes.io/auth-tls-secret"],
    "api/apim-client-ca",
  );
  const deployment = await kc
    .makeApiClient(AppsV1Api)
    .readNamespacedDeployment({ name: "backend", namespace: "api" });
  assert.equal(deployment.spec?.template.spec?.containers[0]?.name, "backend");
  const namespaces = (await core.listNamespace()).items.map((n) => n.metadata?.name);
  assert.ok(namespaces.includes("api") && namespaces.includes("ops"));
});

test("Secrets: create, get, list by label and field selectors, delete, NotFound and AlreadyExists", async () => {
  const created = await core.createNamespacedSecret({
    namespace: "ops",
    body: opaque("s1", { a: "1" }, { team: "x" }),
  });
  assert.ok(created.metadata?.uid && created.metadata.resourceVersion);
  await core.createNamespacedSecret({ namespace: "ops", body: opaque("s2", { b: "2" }, { team: "y" }) });
  const dup = await rejected(() => core.createNamespacedSecret({ namespace: "ops", body: opaque("s1", {}) }));
  assert.equal(dup.code, 409);
  assert.equal(dup.status.reason, "AlreadyExists");
  assert.equal(dup.status.message, 'secrets "s1" already exists');

  const byLabel = await core.listNamespacedSecret({ namespace: "ops", labelSelector: "team=x" });
  assert.deepEqual(
    byLabel.items.map((s) => s.metadata?.name),
    ["s1"],
  );
  const byName = await core.listNamespacedSecret({ namespace: "ops", fieldSelector: "metadata.name=s2" });
  assert.deepEqual(
    byName.items.map((s) => s.metadata?.name),
    ["s2"],
  );
  const tls = await core.listSecretForAllNamespaces({ fieldSelector: "type=kubernetes.io/tls" });
  assert.deepEqual(
    tls.items.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`),
    ["api/backend-tls"],
  );
  const badField = await rejected(() =>
    core.listNamespacedSecret({ namespace: "ops", fieldSelector: "spec.x=1" }),
  );
  assert.equal(badField.code, 400);
  assert.equal(badField.status.reason, "BadRequest");

  await core.deleteNamespacedSecret({ name: "s1", namespace: "ops" });
  const gone = await rejected(() => core.readNamespacedSecret({ name: "s1", namespace: "ops" }));
  assert.equal(gone.code, 404);
  assert.equal(gone.status.reason, "NotFound");
  assert.equal(gone.status.message, 'secrets "s1" not found');
  assert.deepEqual(gone.status.details, { name: "s1", kind: "secrets" });
  const noNs = await rejected(() =>
    core.createNamespacedSecret({ namespace: "nope", body: opaque("s", {}) }),
  );
  assert.equal(noNs.status.message, 'namespaces "nope" not found');
});

test("a kubernetes.io/tls Secret needs tls.crt and tls.key: 422 Invalid with causes", async () => {
  const body: V1Secret = {
    metadata: { name: "half" },
    type: "kubernetes.io/tls",
    data: { "tls.crt": b64("x") },
  };
  const r = await rejected(() => core.createNamespacedSecret({ namespace: "ops", body }));
  assert.equal(r.code, 422);
  assert.equal(r.status.reason, "Invalid");
  assert.equal(r.status.message, 'Secret "half" is invalid: data[tls.key]: Required value');
  assert.deepEqual(r.status.details?.causes, [
    { reason: "FieldValueRequired", message: "Required value", field: "data[tls.key]" },
  ]);
});

test("an update with a stale resourceVersion is a 409 Conflict; with the current one it succeeds", async () => {
  const s = await core.createNamespacedSecret({ namespace: "ops", body: opaque("occ", { v: "1" }) });
  const first = structuredClone(s);
  first.data = { v: b64("2") };
  const updated = await core.replaceNamespacedSecret({ name: "occ", namespace: "ops", body: first });
  assert.notEqual(updated.metadata?.resourceVersion, s.metadata?.resourceVersion);
  assert.ok(Number(updated.metadata?.resourceVersion) > Number(s.metadata?.resourceVersion));
  const stale = structuredClone(s);
  stale.data = { v: b64("3") };
  const r = await rejected(() =>
    core.replaceNamespacedSecret({ name: "occ", namespace: "ops", body: stale }),
  );
  assert.equal(r.code, 409);
  assert.equal(r.status.reason, "Conflict");
  assert.equal(
    r.status.message,
    'Operation cannot be fulfilled on secrets "occ": the object has been modified; please apply your changes to the latest version and try again',
  );
  const current = await core.readNamespacedSecret({ name: "occ", namespace: "ops" });
  assert.equal(Buffer.from(current.data!.v!, "base64").toString(), "2");
});

test("PATCH dispatches on Content-Type: JSON patch (the client default), merge patch, strategic merge", async () => {
  await core.createNamespacedSecret({ namespace: "ops", body: opaque("p", { a: "1", b: "2" }) });
  const jp = await core.patchNamespacedSecret({
    name: "p",
    namespace: "ops",
    body: [
      { op: "replace", path: "/data/a", value: b64("10") },
      { op: "remove", path: "/data/b" },
    ],
  });
  assert.deepEqual(jp.data, { a: b64("10") });
  const failedTest = await rejected(() =>
    core.patchNamespacedSecret({
      name: "p",
      namespace: "ops",
      body: [{ op: "test", path: "/data/a", value: "x" }],
    }),
  );
  assert.equal(failedTest.code, 422);

  const mp = await core.patchNamespacedSecret(
    {
      name: "p",
      namespace: "ops",
      body: { metadata: { labels: { l: "1" } }, data: { a: null, c: b64("3") } },
    },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
  assert.deepEqual(mp.data, { c: b64("3") });
  assert.deepEqual(mp.metadata?.labels, { l: "1" });

  // Strategic merge on a Deployment: containers merge by name.
  const apps = kc.makeApiClient(AppsV1Api);
  const before = await apps.readNamespacedDeployment({ name: "backend", namespace: "api" });
  const smp = await apps.patchNamespacedDeployment(
    {
      name: "backend",
      namespace: "api",
      body: {
        spec: {
          template: {
            spec: {
              containers: [
                { name: "backend", image: "backend:v2" },
                { name: "sidecar", image: "proxy:1" },
              ],
            },
          },
        },
      },
    },
    setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
  );
  const containers = smp.spec?.template.spec?.containers ?? [];
  assert.deepEqual(
    containers.map((c) => [c.name, c.image]),
    [
      ["backend", "backend:v2"],
      ["sidecar", "proxy:1"],
    ],
  );
  assert.deepEqual(
    containers[0]?.ports,
    before.spec?.template.spec?.containers[0]?.ports,
    "other fields kept",
  );
  assert.equal(smp.metadata?.generation, (before.metadata?.generation ?? 0) + 1);

  const unsupported = await rejected(() =>
    core.patchNamespacedSecret(
      { name: "p", namespace: "ops", body: {} },
      setHeaderOptions("Content-Type", "text/plain"),
    ),
  );
  assert.equal(unsupported.code, 415);
});

test("server-side apply: field managers, conflicts as 409 with causes, force, dryRun", async () => {
  const apply = (
    manager: string,
    data: Record<string, string>,
    extra: { force?: boolean; dryRun?: string } = {},
  ) =>
    core.patchNamespacedSecret(
      {
        name: "ssa",
        namespace: "ops",
        body: { apiVersion: "v1", kind: "Secret", metadata: { name: "ssa" }, stringData: data },
        fieldManager: manager,
        ...extra,
      },
      setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply),
    );
  const created = await apply("rotation", { "tls.crt": "one" });
  const rotation = created.metadata?.managedFields?.find((m) => m.manager === "rotation");
  assert.equal(rotation?.operation, "Apply");
  assert.deepEqual(rotation?.fieldsV1, { "f:data": { "f:tls.crt": {} } });

  const noManager = await rejected(() =>
    core.patchNamespacedSecret(
      { name: "ssa", namespace: "ops", body: { apiVersion: "v1", kind: "Secret" } },
      setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply),
    ),
  );
  assert.equal(noManager.code, 400);

  // The same value shared by two managers is no conflict; a different one is.
  await apply("other", { "tls.crt": "one" });
  const conflict = await rejected(() => apply("other", { "tls.crt": "two" }));
  assert.equal(conflict.code, 409);
  assert.equal(conflict.status.reason, "Conflict");
  assert.equal(
    conflict.status.message,
    'Apply failed with 1 conflict: conflict with "rotation": .data.tls.crt',
  );
  assert.deepEqual(conflict.status.details?.causes, [
    { reason: "FieldManagerConflict", message: 'conflict with "rotation"', field: ".data.tls.crt" },
  ]);

  const beforeDry = await core.readNamespacedSecret({ name: "ssa", namespace: "ops" });
  assert.deepEqual(beforeDry.metadata?.managedFields?.map((m) => m.manager).sort(), ["other", "rotation"]);
  const dry = await apply("other", { "tls.crt": "two" }, { force: true, dryRun: "All" });
  assert.equal(Buffer.from(dry.data!["tls.crt"]!, "base64").toString(), "two");
  const unchanged = await core.readNamespacedSecret({ name: "ssa", namespace: "ops" });
  assert.equal(Buffer.from(unchanged.data!["tls.crt"]!, "base64").toString(), "one");
  assert.equal(unchanged.metadata?.resourceVersion, beforeDry.metadata?.resourceVersion);

  const forced = await apply("other", { "tls.crt": "two" }, { force: true });
  assert.equal(Buffer.from(forced.data!["tls.crt"]!, "base64").toString(), "two");
  const owners = forced.metadata?.managedFields?.map((m) => m.manager);
  assert.deepEqual(owners, ["other"], "rotation lost its only field and its entry");

  // An update by another manager takes the fields it changes; the applier then conflicts with it.
  await core.patchNamespacedSecret(
    { name: "ssa", namespace: "ops", body: { data: { "tls.crt": b64("three") } }, fieldManager: "hand-edit" },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
  const vsUpdate = await rejected(() => apply("other", { "tls.crt": "two" }));
  assert.equal(
    vsUpdate.status.message,
    'Apply failed with 1 conflict: conflict with "hand-edit" using v1: .data.tls.crt',
  );
});

test("dryRun=All on create and delete changes nothing", async () => {
  const dry = await core.createNamespacedSecret({
    namespace: "ops",
    body: opaque("dry", { a: "1" }),
    dryRun: "All",
  });
  assert.equal(dry.metadata?.name, "dry");
  await rejected(() => core.readNamespacedSecret({ name: "dry", namespace: "ops" }));
  await core.deleteNamespacedSecret({ name: "backend-tls", namespace: "api", dryRun: "All" });
  await core.readNamespacedSecret({ name: "backend-tls", namespace: "api" });
});

test("watch delivers ADDED, MODIFIED and DELETED after the listed resourceVersion, and ends at timeoutSeconds", async () => {
  const list = await core.listNamespacedSecret({ namespace: "ops" });
  const events: Array<{ type: string; name?: string; v?: string }> = [];
  const controller = await new Watch(kc).watch(
    "/api/v1/namespaces/ops/secrets",
    { resourceVersion: list.metadata?.resourceVersion, timeoutSeconds: 30 },
    (type: string, obj: V1Secret) =>
      events.push({
        type,
        name: obj.metadata?.name,
        v: obj.data?.v && Buffer.from(obj.data.v, "base64").toString(),
      }),
    () => {},
  );
  await core.createNamespacedSecret({ namespace: "ops", body: opaque("w", { v: "1" }) });
  await core.createNamespacedSecret({ namespace: "api", body: opaque("other-ns", { v: "1" }) });
  await core.patchNamespacedSecret(
    { name: "w", namespace: "ops", body: { data: { v: b64("2") } } },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
  await core.deleteNamespacedSecret({ name: "w", namespace: "ops" });
  await until("three events", () => (events.length >= 3 ? true : undefined));
  assert.deepEqual(events, [
    { type: "ADDED", name: "w", v: "1" },
    { type: "MODIFIED", name: "w", v: "2" },
    { type: "DELETED", name: "w", v: "2" },
  ]);
  controller.abort();

  let doneAt = 0;
  const started = Date.now();
  await new Watch(kc).watch(
    "/api/v1/namespaces/ops/secrets",
    { timeoutSeconds: 1 },
    () => {},
    () => {
      doneAt = Date.now();
    },
  );
  await until("the watch to end at its timeout", () => (doneAt ? true : undefined), 5000);
  assert.ok(doneAt - started >= 900, "ended by the server's timeout, not earlier");
});

test("Ingresses: create, watch an update of spec.tls, generation bump, delete", async () => {
  const net = kc.makeApiClient(NetworkingV1Api);
  const body = {
    metadata: {
      name: "edge",
      annotations: { "nginx.ingress.kubernetes.io/auth-tls-verify-client": "optional" },
    },
    spec: {
      tls: [{ hosts: ["edge.contoso.test"], secretName: "edge-a" }],
      rules: [{ host: "edge.contoso.test" }],
    },
  };
  const created = await net.createNamespacedIngress({ namespace: "ops", body });
  assert.equal(created.metadata?.generation, 1);
  const seen: Array<[string, string | undefined, number | undefined]> = [];
  const controller = await new Watch(kc).watch(
    "/apis/networking.k8s.io/v1/namespaces/ops/ingresses",
    { resourceVersion: created.metadata?.resourceVersion },
    (
      type: string,
      obj: { spec?: { tls?: Array<{ secretName?: string }> }; metadata?: { generation?: number } },
    ) => seen.push([type, obj.spec?.tls?.[0]?.secretName, obj.metadata?.generation]),
    () => {},
  );
  const current = await net.readNamespacedIngress({ name: "edge", namespace: "ops" });
  current.spec!.tls![0]!.secretName = "edge-b";
  await net.replaceNamespacedIngress({ name: "edge", namespace: "ops", body: current });
  await net.deleteNamespacedIngress({ name: "edge", namespace: "ops" });
  await until("two events", () => (seen.length >= 2 ? true : undefined));
  controller.abort();
  assert.deepEqual(seen, [
    ["MODIFIED", "edge-b", 2],
    ["DELETED", "edge-b", 2],
  ]);
  const invalidIngress = await rejected(() =>
    net.createNamespacedIngress({ namespace: "ops", body: { metadata: { name: "empty" }, spec: {} } }),
  );
  assert.equal(invalidIngress.code, 422);
  assert.equal(invalidIngress.status.details?.causes?.[0]?.field, "spec.rules");
});

test("401 without a valid token, 403 with the real message when Azure RBAC denies", async () => {
  // client-node drops the body of a 401, so the Status is read with a plain request as well.
  const noToken = await rejected(() =>
    configWithToken("not-a-jwt")
      .makeApiClient(CoreV1Api)
      .readNamespacedSecret({ name: "backend-tls", namespace: "api" }),
  );
  assert.equal(noToken.code, 401);
  const raw = await fetch(`${kc.getCurrentCluster()!.server}/api/v1/namespaces/api/secrets/backend-tls`);
  assert.equal(raw.status, 401);
  assert.deepEqual(await raw.json(), {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: "Unauthorized",
    reason: "Unauthorized",
    code: 401,
  });
  const armToken = await lab.control<{ token: string }>("POST", "/lab/tokens", {
    identity: "operator",
    audience: "https://management.azure.com",
  });
  const wrongAudience = await rejected(() =>
    configWithToken(armToken.body.token).makeApiClient(CoreV1Api).listNamespace(),
  );
  assert.equal(wrongAudience.code, 401);

  const nobody = lab.ctx.seed.identities.nobody;
  const minted = await lab.control<{ token: string }>("POST", "/lab/tokens", {
    identity: "nobody",
    audience: AKS_SERVER_APP_ID,
  });
  const denied = await rejected(() =>
    configWithToken(minted.body.token)
      .makeApiClient(CoreV1Api)
      .replaceNamespacedSecret({ name: "backend-tls", namespace: "api", body: opaque("backend-tls", {}) }),
  );
  assert.equal(denied.code, 403);
  assert.equal(denied.status.reason, "Forbidden");
  assert.equal(
    denied.status.message,
    `secrets "backend-tls" is forbidden: User "${nobody.objectId}" cannot update resource "secrets" in API group "" in the namespace "api": User does not have access to the resource in Azure. Update role assignment to allow access.`,
  );

  // The control plane's managed identity: RBAC Writer on the seed namespaces only.
  const { token } = await new DefaultAzureCredential().getToken(`${AKS_SERVER_APP_ID}/.default`);
  const cp = configWithToken(token).makeApiClient(CoreV1Api);
  const patched = await cp.patchNamespacedSecret(
    { name: "backend-tls", namespace: "api", body: { metadata: { annotations: { touched: "yes" } } } },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
  assert.equal(patched.metadata?.annotations?.touched, "yes");
  const clusterWide = await rejected(() => cp.listSecretForAllNamespaces());
  assert.equal(clusterWide.code, 403);
  assert.match(
    clusterWide.status.message,
    /^secrets is forbidden: User ".*" cannot list resource "secrets" in API group "" at the cluster scope/,
  );
  const newNs = await rejected(() => cp.createNamespace({ body: { metadata: { name: "x" } } }));
  assert.equal(newNs.code, 403);
});

test("faults: injected conflicts answer 409 even with a fresh resourceVersion; 429 carries Retry-After", async () => {
  const added = await lab.control("POST", "/lab/faults", {
    service: "kubernetes",
    kind: "conflict",
    match: "secrets ops/fault-me",
    count: 2,
  });
  assert.equal(added.status, 201);
  await core.createNamespacedSecret({ namespace: "ops", body: opaque("fault-me", { v: "1" }) });
  const attempt = async (v: string) => {
    const fresh = await core.readNamespacedSecret({ name: "fault-me", namespace: "ops" });
    fresh.data = { v: b64(v) };
    return core.replaceNamespacedSecret({ name: "fault-me", namespace: "ops", body: fresh });
  };
  assert.equal((await rejected(() => attempt("2"))).status.reason, "Conflict");
  const viaPatch = await rejected(() =>
    core.patchNamespacedSecret(
      { name: "fault-me", namespace: "ops", body: { data: { v: b64("2") } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    ),
  );
  assert.equal(viaPatch.code, 409);
  const third = await attempt("3");
  assert.equal(Buffer.from(third.data!.v!, "base64").toString(), "3");

  await lab.control("POST", "/lab/faults", {
    service: "kubernetes",
    kind: "status",
    status: 429,
    retryAfterSeconds: 2,
    match: "GET /api/v1/namespaces/ops/secrets/fault-me",
    count: 1,
  });
  const throttled = await rejected(() => core.readNamespacedSecret({ name: "fault-me", namespace: "ops" }));
  assert.equal(throttled.code, 429);
  assert.equal(throttled.status.reason, "TooManyRequests");
  assert.equal(throttled.headers["retry-after"], "2");
  await core.readNamespacedSecret({ name: "fault-me", namespace: "ops" });
});

test("a rollout restart bumps the generation and the status catches up", async () => {
  const apps = kc.makeApiClient(AppsV1Api);
  const before = await apps.readNamespacedDeployment({ name: "backend", namespace: "api" });
  const at = new Date().toISOString();
  const restarted = await apps.patchNamespacedDeployment(
    {
      name: "backend",
      namespace: "api",
      body: {
        spec: { template: { metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": at } } } },
      },
      fieldManager: "kubectl-rollout",
    },
    setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
  );
  const generation = restarted.metadata!.generation!;
  assert.equal(generation, before.metadata!.generation! + 1);
  const done = await until("the rollout to finish", async () => {
    const d = await apps.readNamespacedDeployment({ name: "backend", namespace: "api" });
    return d.status?.observedGeneration === generation && d.status.updatedReplicas === d.spec?.replicas
      ? d
      : undefined;
  });
  assert.equal(done.spec?.template.metadata?.annotations?.["kubectl.kubernetes.io/restartedAt"], at);
});

test("the in-process API resolves the ingress binding and reports every write", async () => {
  const api = kubernetesApi(lab.ctx.registry)!;
  const binding = api.resolveIngressTls("backend.contoso.test")!;
  assert.equal(binding.secret, "api/backend-tls");
  assert.match(binding.certificateChainPem ?? "", /BEGIN CERTIFICATE/);
  assert.ok(/PRIVATE KEY/.test(binding.privateKeyPem ?? ""), "the binding resolves the Secret's private key");
  assert.equal(binding.clientCaSecret, "api/apim-client-ca");
  assert.equal(binding.verifyClient, "on");
  const changes: KubeChange[] = [];
  const ids: string[] = [];
  const off = api.subscribe((c) => changes.push(c));
  const offBus = lab.ctx.bus.on("resource.changed", (e) => ids.push(`${e.service}:${e.id}`));
  await core.patchNamespacedSecret(
    { name: "backend-tls", namespace: "api", body: { metadata: { labels: { rotated: "1" } } } },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
  off();
  offBus();
  assert.deepEqual(
    changes.map((c) => [c.type, c.resource, c.object.metadata.name]),
    [["MODIFIED", "secrets", "backend-tls"]],
  );
  assert.deepEqual(ids, ["kubernetes:secrets/api/backend-tls"]);
  assert.notDeepEqual(api.resolveIngressTls("backend.contoso.test")!.versions, binding.versions);
});

test("state survives a restart: objects, resourceVersions, and the kubeconfig keep working", async () => {
  const before = await core.readNamespacedSecret({ name: "occ", namespace: "ops" });
  const stateDir = lab.stateDir;
  await lab.dispose({ keepState: true });
  lab = await startTestLab({ stateDir });
  kc = new KubeConfig();
  kc.loadFromFile(lab.endpoints.kubeconfig as string);
  core = kc.makeApiClient(CoreV1Api);
  const after = await core.readNamespacedSecret({ name: "occ", namespace: "ops" });
  assert.deepEqual(after, before);
  const tls = await core.readNamespacedSecret({ name: "backend-tls", namespace: "api" });
  assert.equal(tls.metadata?.annotations?.touched, "yes", "seed not re-applied over later writes");
  const next = await core.createNamespacedSecret({ namespace: "ops", body: opaque("after-restart", {}) });
  assert.ok(Number(next.metadata?.resourceVersion) > Number(before.metadata?.resourceVersion));
});
