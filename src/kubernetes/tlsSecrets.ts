/**
 * Kubernetes Secrets and Ingresses through @kubernetes/client-node: discovery of annotated Secrets
 * with the Ingress hosts that use them, reads, writes with a `resourceVersion` precondition, backups
 * and Deployment restarts.
 */
import {
  AppsV1Api,
  CoreV1Api,
  NetworkingV1Api,
  type KubeConfig,
  type V1Ingress,
  type V1Secret,
} from "@kubernetes/client-node";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { formatProbeAddress, type ProbeAddress } from "../domain/bindings.js";

/** Annotation naming the Key Vault certificate (`<vault>/<certificate>`) a Secret carries. */
export const CERTIFICATE_ANNOTATION = "cert-rotation.e2e/certificate";
/** `tls` (default) or `ca`. */
export const ROLE_ANNOTATION = "cert-rotation.e2e/role";
/** Deployments (comma-separated, same namespace) to restart after a write. */
export const RESTART_ANNOTATION = "cert-rotation.e2e/restart-deployments";
/** Written by us: the vault version the Secret carries. */
export const VERSION_ANNOTATION = "cert-rotation.e2e/version";
/** Written by us: SHA-1 thumbprint of the leaf (tls) or of the certificate whose chain it carries (ca). */
export const THUMBPRINT_ANNOTATION = "cert-rotation.e2e/thumbprint";
/** Written by us: the rotation that wrote the Secret. */
export const ROTATION_ANNOTATION = "cert-rotation.e2e/rotation";
/** On a backup Secret: the Secret it is the backup of. */
export const BACKUP_OF_ANNOTATION = "cert-rotation.e2e/backup-of";
const AUTH_TLS_SECRET = "nginx.ingress.kubernetes.io/auth-tls-secret";
const PROXY_SSL_SECRET = "nginx.ingress.kubernetes.io/proxy-ssl-secret";

/** An annotated Secret found by discovery. */
export interface AnnotatedSecret {
  namespace: string;
  name: string;
  vaultName: string;
  certificateName: string;
  role: "tls" | "ca";
  ingressHosts: string[];
  /**
   * Where those Ingresses are served: their `status.loadBalancer.ingress` (IP or host name), when
   * every Ingress using the Secret that has a status reports the same addresses; empty otherwise.
   */
  ingressAddresses: ProbeAddress[];
  restartDeployments: string[];
}

/**
 * The addresses an Ingress's controller published in `status.loadBalancer.ingress`: each entry's IP
 * (else host name) on port 443 — or, when the entry lists ports without 443, on its only TCP port
 * (an entry listing several other ports is skipped: which one speaks TLS is not known).
 */
export function ingressStatusAddresses(ing: V1Ingress): ProbeAddress[] {
  const out: ProbeAddress[] = [];
  for (const e of ing.status?.loadBalancer?.ingress ?? []) {
    const address = e.ip?.trim() || e.hostname?.trim().toLowerCase();
    if (!address) continue;
    const tcp = (e.ports ?? []).filter((p) => !p.error && (p.protocol ?? "TCP").toUpperCase() === "TCP");
    const port =
      tcp.length === 0 || tcp.some((p) => p.port === 443) ? 443 : tcp.length === 1 ? tcp[0]!.port : 0;
    if (port > 0) out.push({ address, port });
  }
  return out;
}

/** API clients of one cluster. */
export interface KubeApis {
  core: CoreV1Api;
  networking: NetworkingV1Api;
  apps: AppsV1Api;
}

/** The API clients for a kubeconfig. */
export const kubeApis = (kc: KubeConfig): KubeApis => ({
  core: kc.makeApiClient(CoreV1Api),
  networking: kc.makeApiClient(NetworkingV1Api),
  apps: kc.makeApiClient(AppsV1Api),
});

/** The Secrets in `namespace` that carry a vault certificate annotation, with the hosts that use them. */
export async function findAnnotatedSecrets(apis: KubeApis, namespace: string): Promise<AnnotatedSecret[]> {
  const [secrets, ingresses] = await Promise.all([
    apis.core.listNamespacedSecret({ namespace }),
    apis.networking.listNamespacedIngress({ namespace }),
  ]);
  const out: AnnotatedSecret[] = [];
  for (const s of secrets.items) {
    const a = s.metadata?.annotations ?? {};
    const ref = a[CERTIFICATE_ANNOTATION]?.trim();
    const m = ref ? /^([^/\s]+)\/([^/\s]+)$/.exec(ref) : null;
    if (!m || !s.metadata?.name) continue;
    const name = s.metadata.name;
    const role = a[ROLE_ANNOTATION]?.trim().toLowerCase() === "ca" ? "ca" : "tls";
    const hosts = new Set<string>();
    const addressSets = new Map<string, ProbeAddress[]>();
    for (const ing of ingresses.items) {
      const ia = ing.metadata?.annotations ?? {};
      let uses = false;
      if (role === "tls") {
        for (const t of ing.spec?.tls ?? [])
          if (t.secretName === name) {
            uses = true;
            for (const h of t.hosts ?? []) hosts.add(h);
          }
      } else {
        const refs = [ia[AUTH_TLS_SECRET], ia[PROXY_SSL_SECRET]].filter((x): x is string => !!x);
        if (refs.some((r) => r === `${namespace}/${name}` || r === name)) {
          uses = true;
          for (const r of ing.spec?.rules ?? []) if (r.host) hosts.add(r.host);
          for (const t of ing.spec?.tls ?? []) for (const h of t.hosts ?? []) hosts.add(h);
        }
      }
      const addresses = uses ? ingressStatusAddresses(ing) : [];
      if (addresses.length) addressSets.set(addresses.map(formatProbeAddress).sort().join(","), addresses);
    }
    out.push({
      namespace,
      name,
      vaultName: m[1]!,
      certificateName: m[2]!,
      role,
      ingressHosts: [...hosts],
      // Ingresses of one Secret published different addresses: which serves which host is unknown.
      ingressAddresses: addressSets.size === 1 ? [...addressSets.values()][0]! : [],
      restartDeployments: (a[RESTART_ANNOTATION] ?? "")
        .split(",")
        .map((d) => d.trim())
        .filter(Boolean),
    });
  }
  return out;
}

/** Reads a Secret; undefined when it does not exist. */
export async function readSecret(
  apis: KubeApis,
  namespace: string,
  name: string,
): Promise<V1Secret | undefined> {
  try {
    return await apis.core.readNamespacedSecret({ namespace, name });
  } catch (e) {
    if ((e as { code?: number }).code === 404) return undefined;
    throw e;
  }
}

/** Decoded value of a Secret data key. */
export const secretText = (s: V1Secret | undefined, key: string): string | undefined => {
  const v = s?.data?.[key];
  return v === undefined ? undefined : Buffer.from(v, "base64").toString("utf8");
};

/** Replaces a Secret (PUT) with its `resourceVersion` as precondition; a stale one answers 409. */
export async function replaceSecret(apis: KubeApis, secret: V1Secret): Promise<V1Secret> {
  return apis.core.replaceNamespacedSecret({
    namespace: secret.metadata!.namespace!,
    name: secret.metadata!.name!,
    body: secret,
    fieldManager: "cert-rotation",
  });
}

/** Creates a Secret; 409 when it exists already. */
export async function createSecret(apis: KubeApis, secret: V1Secret): Promise<V1Secret> {
  return apis.core.createNamespacedSecret({
    namespace: secret.metadata!.namespace!,
    body: secret,
    fieldManager: "cert-rotation",
  });
}

/** Deletes a Secret; false when it was not there. */
export async function deleteSecret(apis: KubeApis, namespace: string, name: string): Promise<boolean> {
  try {
    await apis.core.deleteNamespacedSecret({ namespace, name });
    return true;
  } catch (e) {
    if ((e as { code?: number }).code === 404) return false;
    throw e;
  }
}

/** Pod template annotation naming the write a restart was for (so a retry restarts once, not twice). */
export const RESTARTED_FOR_ANNOTATION = "cert-rotation.e2e/restarted-for";

/**
 * `kubectl rollout restart`, once per write: stamps the pod template with
 * `kubectl.kubernetes.io/restartedAt` and {@link RESTARTED_FOR_ANNOTATION} `forWrite` (e.g. the
 * rotation run), unless the template already names `forWrite` (a retry after the restart landed).
 * Answers whether it restarted.
 */
export async function restartDeployment(
  apis: KubeApis,
  namespace: string,
  name: string,
  at: Date,
  forWrite: string,
): Promise<boolean> {
  const d = await apis.apps.readNamespacedDeployment({ namespace, name });
  if (d.spec?.template.metadata?.annotations?.[RESTARTED_FOR_ANNOTATION] === forWrite) return false;
  await apis.apps.patchNamespacedDeployment(
    {
      namespace,
      name,
      body: {
        spec: {
          template: {
            metadata: {
              annotations: {
                "kubectl.kubernetes.io/restartedAt": at.toISOString(),
                [RESTARTED_FOR_ANNOTATION]: forWrite,
              },
            },
          },
        },
      },
      fieldManager: "cert-rotation",
    },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
  return true;
}
