/** The in-process read API (api.ts) over the cluster store. */
import type {
  DeploymentObject,
  IngressObject,
  IngressTlsBinding,
  KubernetesLabApi,
  SecretObject,
} from "./api.js";
import { RESOURCE } from "./resources.js";
import type { ClusterStore } from "./store.js";

const AUTH_TLS_SECRET = "nginx.ingress.kubernetes.io/auth-tls-secret";
const AUTH_TLS_VERIFY = "nginx.ingress.kubernetes.io/auth-tls-verify-client";
const VERIFY_MODES = ["on", "off", "optional", "optional_no_ca"] as const;

export function createKubernetesApi(
  store: ClusterStore,
  clusterId: string,
  serverUrl: string,
): KubernetesLabApi {
  // Decoded from the stored Secret without copying it first (the edge decodes every served Secret on each refresh).
  const secretData = (namespace: string, name: string) => {
    const s = store.peek(RESOURCE.secrets, namespace, name) as SecretObject | undefined;
    if (!s) return undefined;
    return Object.fromEntries(
      Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
    );
  };
  return {
    clusterId,
    serverUrl,
    getSecret: (namespace, name) => store.get(RESOURCE.secrets, namespace, name) as SecretObject | undefined,
    getSecretData: secretData,
    listSecrets: (namespace) => store.list(RESOURCE.secrets, namespace) as SecretObject[],
    getIngress: (namespace, name) =>
      store.get(RESOURCE.ingresses, namespace, name) as IngressObject | undefined,
    listIngresses: (namespace) => store.list(RESOURCE.ingresses, namespace) as IngressObject[],
    getDeployment: (namespace, name) =>
      store.get(RESOURCE.deployments, namespace, name) as DeploymentObject | undefined,
    resolveIngressTls(host): IngressTlsBinding | undefined {
      const wanted = host.toLowerCase();
      // The stored Ingresses without copies: an edge refresh resolves every host, and copying every
      // Ingress for each of them made a refresh quadratic in the number of Ingresses.
      for (const ing of store.scan(RESOURCE.ingresses) as readonly IngressObject[]) {
        const tls = (ing.spec?.tls ?? []).find((t) =>
          (t.hosts ?? []).some((h) => h.toLowerCase() === wanted),
        );
        if (!tls?.secretName) continue;
        const namespace = ing.metadata.namespace!;
        const secret = store.peek(RESOURCE.secrets, namespace, tls.secretName);
        const data = secretData(namespace, tls.secretName);
        const binding: IngressTlsBinding = {
          namespace,
          ingress: ing.metadata.name,
          host,
          secret: `${namespace}/${tls.secretName}`,
          certificateChainPem: data?.["tls.crt"],
          privateKeyPem: data?.["tls.key"],
          versions: [ing.metadata.resourceVersion, secret?.metadata.resourceVersion ?? "-"],
        };
        const caRef = ing.metadata.annotations?.[AUTH_TLS_SECRET];
        if (caRef) {
          const [caNs, caName] = caRef.includes("/") ? caRef.split("/", 2) : [namespace, caRef];
          const ca = store.peek(RESOURCE.secrets, caNs, caName!);
          binding.clientCaSecret = `${caNs}/${caName}`;
          binding.clientCaPem = secretData(caNs!, caName!)?.["ca.crt"];
          binding.versions.push(ca?.metadata.resourceVersion ?? "-");
          const mode = ing.metadata.annotations?.[AUTH_TLS_VERIFY] ?? "on";
          binding.verifyClient = (VERIFY_MODES as readonly string[]).includes(mode)
            ? (mode as IngressTlsBinding["verifyClient"])
            : "on";
        }
        return binding;
      }
      return undefined;
    },
    subscribe(listener) {
      return store.subscribe(({ type, resource, object }) => listener({ type, resource, object }));
    },
  };
}
