/**
 * In-process read API of the lab Kubernetes cluster, for the data-plane hops (the ingress serves the
 * certificate in the Secret its Ingress names; it trusts the `ca.crt` of its auth-tls Secret). Other
 * services find it as `ctx.registry.get("kubernetes")` (use `kubernetesApi(ctx.registry)`); it never
 * crosses the wire. Every write on the cluster also emits `resource.changed` on the lab bus with
 * `{service: "kubernetes", id: "<group>/<resource>/<namespace>/<name>"}` (core group: `secrets/api/x`,
 * so `networking.k8s.io/ingresses/api/backend`).
 */

/** The registry key of the Kubernetes in-process API. */
export const KUBERNETES_SERVICE = "kubernetes";

/** `metadata` of a stored object (the fields the lab fills; others pass through unchanged). */
export interface KubeObjectMeta {
  name: string;
  namespace?: string;
  uid: string;
  /** Opaque; a cluster-wide increasing counter in the lab. Compare for equality only. */
  resourceVersion: string;
  generation?: number;
  creationTimestamp: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  managedFields?: ManagedFieldsEntry[];
  [key: string]: unknown;
}

export interface ManagedFieldsEntry {
  manager: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  time: string;
  fieldsType: "FieldsV1";
  fieldsV1: Record<string, unknown>;
  subresource?: string;
}

/** Any stored Kubernetes object, as the API serves it. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: KubeObjectMeta;
  [key: string]: unknown;
}

export interface SecretObject extends KubeObject {
  apiVersion: "v1";
  kind: "Secret";
  type?: string;
  /** Base64 values. */
  data?: Record<string, string>;
  immutable?: boolean;
}

export interface IngressTls {
  hosts?: string[];
  secretName?: string;
}

export interface IngressObject extends KubeObject {
  apiVersion: "networking.k8s.io/v1";
  kind: "Ingress";
  spec?: {
    ingressClassName?: string;
    tls?: IngressTls[];
    rules?: Array<{ host?: string; http?: unknown }>;
    [key: string]: unknown;
  };
}

export interface DeploymentObject extends KubeObject {
  apiVersion: "apps/v1";
  kind: "Deployment";
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

/** A change on the cluster, as a watch would deliver it. */
export interface KubeChange {
  type: "ADDED" | "MODIFIED" | "DELETED";
  /** `secrets`, `ingresses`, `deployments` or `namespaces`. */
  resource: string;
  object: KubeObject;
}

/** What the ingress hop serves for one host name, resolved from Ingresses and their Secrets. */
export interface IngressTlsBinding {
  namespace: string;
  ingress: string;
  host: string;
  /** `<namespace>/<name>` of the serving Secret. */
  secret: string;
  /** `tls.crt` (leaf first, then the chain) and `tls.key`, PEM; undefined when the Secret is missing. */
  certificateChainPem?: string;
  privateKeyPem?: string;
  /** From `nginx.ingress.kubernetes.io/auth-tls-secret`: the Secret and its `ca.crt` PEM. */
  clientCaSecret?: string;
  clientCaPem?: string;
  /** `nginx.ingress.kubernetes.io/auth-tls-verify-client` (`on` is the default when a CA is set). */
  verifyClient?: "on" | "off" | "optional" | "optional_no_ca";
  /** resourceVersions of the Ingress and Secrets used, to detect changes cheaply. */
  versions: string[];
}

/** The in-process API. Objects returned are copies. */
export interface KubernetesLabApi {
  /** ARM id of the simulated AKS cluster. */
  readonly clusterId: string;
  /** HTTPS URL of the API server. */
  readonly serverUrl: string;
  getSecret(namespace: string, name: string): SecretObject | undefined;
  /** A Secret's data decoded to UTF-8 strings (PEM); undefined when the Secret is missing. */
  getSecretData(namespace: string, name: string): Record<string, string> | undefined;
  listSecrets(namespace?: string): SecretObject[];
  getIngress(namespace: string, name: string): IngressObject | undefined;
  listIngresses(namespace?: string): IngressObject[];
  getDeployment(namespace: string, name: string): DeploymentObject | undefined;
  /** The TLS binding serving `host` (first Ingress whose `spec.tls[].hosts` lists it). */
  resolveIngressTls(host: string): IngressTlsBinding | undefined;
  /** Every change, after it is stored. Returns an unsubscribe function. */
  subscribe(listener: (change: KubeChange) => void): () => void;
}

/** The Kubernetes API from the lab registry, when the Kubernetes service runs. */
export function kubernetesApi(registry: Map<string, unknown>): KubernetesLabApi | undefined {
  return registry.get(KUBERNETES_SERVICE) as KubernetesLabApi | undefined;
}
