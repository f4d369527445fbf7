/**
 * The lab cluster store's uncopied scans (what the edge reads on every refresh) and the Ingress TLS
 * resolution built on them: a scan is reused only until the next write, and readers get copies.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { IngressObject, KubeObject, SecretObject } from "../../../emulator/lab/kubernetes/api.js";
import { createKubernetesApi } from "../../../emulator/lab/kubernetes/readApi.js";
import { RESOURCE } from "../../../emulator/lab/kubernetes/resources.js";
import { ClusterStore } from "../../../emulator/lab/kubernetes/store.js";

const NOW = new Date("2026-01-01T00:00:00Z");

function newStore(): { store: ClusterStore; saves: () => number } {
  let saves = 0;
  const store = new ClusterStore({ resourceVersion: 0, objects: {}, staticToken: "t" }, () => saves++);
  return { store, saves: () => saves };
}

const meta = (name: string, namespace = "api") =>
  ({ name, namespace, uid: "", resourceVersion: "", creationTimestamp: "" }) as KubeObject["metadata"];

function ingress(name: string, host: string, secretName: string): IngressObject {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: meta(name),
    spec: { tls: [{ hosts: [host], secretName }], rules: [{ host }] },
  };
}

function secret(name: string, crt: string): SecretObject {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: meta(name),
    type: "kubernetes.io/tls",
    data: { "tls.crt": Buffer.from(crt).toString("base64"), "tls.key": Buffer.from("k").toString("base64") },
  };
}

test("a scan lists the stored objects in list order, and a write makes the next scan see it", () => {
  const { store } = newStore();
  store.put(RESOURCE.ingresses, ingress("b", "b.test", "b-tls"), NOW);
  store.put(RESOURCE.secrets, secret("b-tls", "one"), NOW);
  const first = store.scan(RESOURCE.ingresses);
  assert.deepEqual(
    first.map((o) => o.metadata.name),
    ["b"],
  );
  assert.equal(store.scan(RESOURCE.ingresses), first, "no write in between: the same scan");
  store.put(RESOURCE.ingresses, ingress("a", "a.test", "a-tls"), NOW);
  assert.deepEqual(
    store.scan(RESOURCE.ingresses).map((o) => o.metadata.name),
    ["a", "b"],
  );
  store.remove(RESOURCE.ingresses, "api", "b");
  assert.deepEqual(
    store.scan(RESOURCE.ingresses).map((o) => o.metadata.name),
    ["a"],
  );
  assert.deepEqual(
    store.scan(RESOURCE.ingresses, "other").map((o) => o.metadata.name),
    [],
  );
  assert.deepEqual(
    store.list(RESOURCE.secrets).map((o) => o.metadata.name),
    ["b-tls"],
  );
});

test("list hands out copies: changing one changes neither the store nor a later scan", () => {
  const { store } = newStore();
  store.put(RESOURCE.ingresses, ingress("a", "a.test", "a-tls"), NOW);
  const [copy] = store.list(RESOURCE.ingresses) as IngressObject[];
  copy!.metadata.name = "changed";
  assert.equal(store.scan(RESOURCE.ingresses)[0]!.metadata.name, "a");
  assert.equal(store.list(RESOURCE.ingresses)[0]!.metadata.name, "a");
});

test("Ingress TLS resolution follows every write: a new Secret value, a new Ingress earlier in name order", () => {
  const { store } = newStore();
  const api = createKubernetesApi(store, "cluster", "https://k8s.test");
  store.put(RESOURCE.ingresses, ingress("b", "shared.test", "b-tls"), NOW);
  store.put(RESOURCE.secrets, secret("b-tls", "first"), NOW);
  store.put(RESOURCE.secrets, secret("a-tls", "other"), NOW);
  assert.equal(api.resolveIngressTls("shared.test")?.certificateChainPem, "first");
  store.put(RESOURCE.secrets, secret("b-tls", "second"), NOW);
  assert.equal(api.resolveIngressTls("SHARED.test")?.certificateChainPem, "second");
  // Like list order, the Ingress first by namespace/name wins a host two of them claim.
  store.put(RESOURCE.ingresses, ingress("a", "shared.test", "a-tls"), NOW);
  const binding = api.resolveIngressTls("shared.test");
  assert.equal(binding?.ingress, "a");
  assert.equal(binding?.certificateChainPem, "other");
  store.remove(RESOURCE.ingresses, "api", "a");
  store.remove(RESOURCE.ingresses, "api", "b");
  assert.equal(api.resolveIngressTls("shared.test"), undefined);
});
