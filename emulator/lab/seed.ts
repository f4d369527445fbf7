/**
 * The seed topology, matching ARCHITECTURE.md §1: one vault with the edge, APIM gateway, ingress and
 * APIM client certificates; one Front Door profile; one APIM service; one AKS cluster with two
 * namespaces. Every lab service seeds its own part of it from these names on first start.
 */
export const SEED = {
  tenantId: "11111111-2222-4333-8444-555555555555",
  subscriptionId: "00000000-0000-4000-8000-00000000c0de",
  resourceGroup: "rg-contoso-api",
  location: "westeurope",
  vault: { name: "kv-contoso" },
  certificates: {
    /** Front Door custom domain certificate (public edge). */
    edge: { name: "edge-contoso", hosts: ["api.contoso.test"] },
    /** APIM proxy custom hostname certificate (Front Door's origin). */
    apim: { name: "apim-gateway", hosts: ["apim.contoso.test"] },
    /** AKS ingress TLS certificate (APIM's backend). */
    ingress: { name: "ingress-tls", hosts: ["backend.contoso.test"] },
    /** APIM client certificate presented to the ingress (mTLS); the ingress trusts its CA. */
    client: { name: "apim-client", hosts: ["apim-client.contoso.test"] },
  },
  frontDoor: {
    profile: "afd-contoso",
    endpoint: "contoso-edge",
    /** Custom domain resource name → host name. */
    customDomains: { "api-contoso-test": "api.contoso.test" },
    secret: "edge-contoso",
    originGroup: "apim-origins",
    origin: "apim-gateway",
  },
  apim: {
    service: "apim-contoso",
    backend: "aks-ingress",
    clientCertificateId: "apim-client",
  },
  cluster: {
    name: "aks-contoso",
    namespaces: ["api", "ops"],
    /** Namespace, Secret and Ingress serving the ingress certificate. */
    ingress: {
      namespace: "api",
      secret: "backend-tls",
      ingress: "backend",
      clientCaSecret: "apim-client-ca",
      deployment: "backend",
    },
  },
  identities: {
    /** The control plane's managed identity (the Function App's). */
    controlPlane: {
      name: "id-cert-rotation",
      clientId: "c0ffee00-0000-4000-8000-000000000001",
      objectId: "0b1ec700-0000-4000-8000-000000000001",
    },
    frontDoor: {
      name: "afd-contoso",
      clientId: "c0ffee00-0000-4000-8000-000000000002",
      objectId: "0b1ec700-0000-4000-8000-000000000002",
    },
    apim: {
      name: "apim-contoso",
      clientId: "c0ffee00-0000-4000-8000-000000000003",
      objectId: "0b1ec700-0000-4000-8000-000000000003",
    },
    /** Used by kubectl through the lab kubeconfig. */
    operator: {
      name: "operator",
      clientId: "c0ffee00-0000-4000-8000-000000000004",
      objectId: "0b1ec700-0000-4000-8000-000000000004",
    },
    /** Has no role assignment at all: for least-privilege tests. */
    nobody: {
      name: "nobody",
      clientId: "c0ffee00-0000-4000-8000-000000000005",
      objectId: "0b1ec700-0000-4000-8000-000000000005",
    },
  },
} as const;

export type SeedTopology = typeof SEED;

export const rgId = (s: SeedTopology = SEED) =>
  `/subscriptions/${s.subscriptionId}/resourceGroups/${s.resourceGroup}`;
export const vaultId = (s: SeedTopology = SEED) =>
  `${rgId(s)}/providers/Microsoft.KeyVault/vaults/${s.vault.name}`;
export const frontDoorProfileId = (s: SeedTopology = SEED) =>
  `${rgId(s)}/providers/Microsoft.Cdn/profiles/${s.frontDoor.profile}`;
export const apimServiceId = (s: SeedTopology = SEED) =>
  `${rgId(s)}/providers/Microsoft.ApiManagement/service/${s.apim.service}`;
export const clusterId = (s: SeedTopology = SEED) =>
  `${rgId(s)}/providers/Microsoft.ContainerService/managedClusters/${s.cluster.name}`;
