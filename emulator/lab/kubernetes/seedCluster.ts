/**
 * Seeds the cluster on first start from `ctx.seed.cluster`: namespaces `default` + the seed
 * namespaces; in the ingress namespace the TLS Secret (the Key Vault ingress certificate's current
 * version), the client-CA Secret (the lab root, which issues the APIM client certificate), the Ingress
 * and the Deployment. Objects are written by the field manager `lab-seed`.
 */
import type { LabContext } from "../core/lab.js";
import { KEYVAULT_API, type KeyVaultApi } from "../keyvault/api.js";
import type { KubeObject } from "./api.js";
import { trackUpdate } from "./fields.js";
import type { Json } from "./patch.js";
import { RESOURCE, apiVersionOf, type ResourceDef } from "./resources.js";
import type { ClusterStore } from "./store.js";

/** Annotation naming the Key Vault certificate (`<vault>/<name>`) a Secret carries. */
export const CERTIFICATE_ANNOTATION = "cert-rotation.e2e/certificate";
/** Annotation saying how a Secret carries it: `tls` (tls.crt/tls.key) or `ca` (ca.crt). */
export const ROLE_ANNOTATION = "cert-rotation.e2e/role";
/** The vault version a Secret carries, and its leaf's SHA-1 thumbprint (as the control plane writes them). */
export const VERSION_ANNOTATION = "cert-rotation.e2e/version";
export const THUMBPRINT_ANNOTATION = "cert-rotation.e2e/thumbprint";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

/** Seeds the objects; returns a note when the TLS material had to be generated locally. */
export async function seedCluster(ctx: LabContext, store: ClusterStore): Promise<string | undefined> {
  const seed = ctx.seed;
  const ing = seed.cluster.ingress;
  const now = ctx.clock.now();
  const time = now.toISOString().replace(/\.\d{3}Z$/, "Z");
  const put = (def: ResourceDef, obj: KubeObject) => {
    obj.apiVersion = apiVersionOf(def);
    obj.kind = def.kind;
    def.normalize(obj, undefined);
    if (def.hasGeneration) obj.metadata.generation = 1;
    const fields = trackUpdate(
      undefined,
      obj as unknown as { [k: string]: Json },
      "lab-seed",
      apiVersionOf(def),
      time,
    );
    obj.metadata.managedFields = fields;
    store.put(def, obj, now);
  };
  const meta = (name: string, namespace?: string, extra: Partial<KubeObject["metadata"]> = {}) =>
    ({
      name,
      ...(namespace ? { namespace } : {}),
      uid: "",
      resourceVersion: "",
      creationTimestamp: "",
      ...extra,
    }) as KubeObject["metadata"];

  for (const ns of ["default", ...seed.cluster.namespaces])
    put(RESOURCE.namespaces, { apiVersion: "v1", kind: "Namespace", metadata: meta(ns) });

  const certName = seed.certificates.ingress.name;
  const { chainPem, keyPem, note, version, thumbprint } = await ingressMaterial(ctx, certName, [
    ...seed.certificates.ingress.hosts,
  ]);
  // As the control plane's own writes do, the seeded Secret names the vault version it carries.
  const carried =
    version && thumbprint
      ? { [VERSION_ANNOTATION]: version, [THUMBPRINT_ANNOTATION]: thumbprint }
      : ({} as Record<string, string>);
  put(RESOURCE.secrets, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: meta(ing.secret, ing.namespace, {
      annotations: {
        [CERTIFICATE_ANNOTATION]: `${seed.vault.name}/${certName}`,
        [ROLE_ANNOTATION]: "tls",
        ...carried,
      },
      labels: { "app.kubernetes.io/name": "backend" },
    }),
    type: "kubernetes.io/tls",
    data: { "tls.crt": b64(chainPem), "tls.key": b64(keyPem) },
  });
  put(RESOURCE.secrets, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: meta(ing.clientCaSecret, ing.namespace, {
      annotations: {
        [CERTIFICATE_ANNOTATION]: `${seed.vault.name}/${seed.certificates.client.name}`,
        [ROLE_ANNOTATION]: "ca",
      },
      labels: { "app.kubernetes.io/name": "backend" },
    }),
    type: "Opaque",
    data: { "ca.crt": b64(ctx.pki.root.certPem) },
  });
  const host = seed.certificates.ingress.hosts[0];
  put(RESOURCE.ingresses, {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: meta(ing.ingress, ing.namespace, {
      annotations: {
        "nginx.ingress.kubernetes.io/auth-tls-secret": `${ing.namespace}/${ing.clientCaSecret}`,
        "nginx.ingress.kubernetes.io/auth-tls-verify-client": "on",
        "nginx.ingress.kubernetes.io/auth-tls-verify-depth": "1",
      },
    }),
    spec: {
      ingressClassName: "nginx",
      tls: [{ hosts: [host], secretName: ing.secret }],
      rules: [
        {
          host,
          http: {
            paths: [
              {
                path: "/",
                pathType: "Prefix",
                backend: { service: { name: ing.deployment, port: { number: 80 } } },
              },
            ],
          },
        },
      ],
    },
  });
  const labels = { app: ing.deployment };
  put(RESOURCE.deployments, {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta(ing.deployment, ing.namespace, { labels }),
    spec: {
      replicas: 2,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [
            {
              name: ing.deployment,
              image: "mcr.microsoft.com/azuredocs/aks-helloworld:v1",
              ports: [{ containerPort: 80, protocol: "TCP" }],
            },
          ],
        },
      },
    },
    status: {},
  });
  return note;
}

/** The ingress certificate's current version from the lab Key Vault, or a locally issued one. */
async function ingressMaterial(
  ctx: LabContext,
  certName: string,
  hosts: string[],
): Promise<{ chainPem: string; keyPem: string; note?: string; version?: string; thumbprint?: string }> {
  const kv = ctx.registry.get(KEYVAULT_API) as KeyVaultApi | undefined;
  if (kv) {
    const resolved = kv.resolveSecret(`${kv.vaultResourceId(ctx.seed.vault.name)}/secrets/${certName}`);
    if (resolved?.keyPem)
      return {
        chainPem: pemBlocks(resolved.chainPem),
        keyPem: resolved.keyPem,
        version: resolved.version,
        thumbprint: resolved.thumbprint,
      };
  }
  const issued = await ctx.pki.issue({
    subject: `CN=${hosts[0]}`,
    names: hosts,
    key: { kty: "RSA", size: 2048 },
  });
  return {
    chainPem: issued.chainPem,
    keyPem: issued.keyPem,
    note: `the Key Vault API has no current version of '${certName}'; the Secret ${ctx.seed.cluster.ingress.namespace}/${ctx.seed.cluster.ingress.secret} holds a certificate issued by the lab CA instead`,
  };
}

/** PEM blocks one per line group, newline-terminated, as `tls.crt` files are written. */
function pemBlocks(pem: string): string {
  const blocks = pem.match(/-----BEGIN [^-]+-----[\s\S]*?-----END [^-]+-----/g) ?? [];
  return blocks.map((b) => `${b}\n`).join("");
}
