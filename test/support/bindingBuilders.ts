/**
 * Builders for bindings: sensible defaults for the lab's chain (contoso.test), each overridable.
 */
import type {
  ApimCertificateBinding,
  ApimHostnameBinding,
  CertificateRef,
  FrontDoorSecretBinding,
  KubernetesSecretBinding,
} from "../../src/domain/bindings.js";

/** The default certificate every built binding serves. */
export const CERT: CertificateRef = { vaultName: "kv-lab", certificateName: "api-contoso" };
/** ARM id builders for the lab's resources. */
export const ids = {
  sub: "00000000-0000-0000-0000-000000000001",
  profile: (name = "fd-lab") =>
    `/subscriptions/${ids.sub}/resourceGroups/rg-edge/providers/Microsoft.Cdn/profiles/${name}`,
  apim: (name = "apim-lab") =>
    `/subscriptions/${ids.sub}/resourceGroups/rg-api/providers/Microsoft.ApiManagement/service/${name}`,
  vault: (name = "kv-lab") =>
    `/subscriptions/${ids.sub}/resourceGroups/rg-sec/providers/Microsoft.KeyVault/vaults/${name}`,
};

/** A Front Door secret binding with one custom domain. */
export function aFrontDoorBinding(over: Partial<FrontDoorSecretBinding> = {}): FrontDoorSecretBinding {
  return {
    kind: "frontDoorSecret",
    certificate: CERT,
    source: "discovered",
    profileId: ids.profile(),
    secretName: "api-contoso-v1",
    customDomains: [{ name: "api-contoso-test", hostName: "api.contoso.test" }],
    ...over,
  };
}

/** An APIM Proxy hostname binding. */
export function anApimHostnameBinding(over: Partial<ApimHostnameBinding> = {}): ApimHostnameBinding {
  return {
    kind: "apimHostname",
    certificate: CERT,
    source: "discovered",
    serviceId: ids.apim(),
    hostnameType: "Proxy",
    hostName: "gw.contoso.test",
    ...over,
  };
}

/** An APIM certificate entity binding (backend client certificate). */
export function anApimCertificateBinding(over: Partial<ApimCertificateBinding> = {}): ApimCertificateBinding {
  return {
    kind: "apimCertificate",
    certificate: CERT,
    source: "discovered",
    serviceId: ids.apim(),
    certificateId: "backend-client",
    backendIds: ["aks-backend"],
    ...over,
  };
}

/** A Kubernetes TLS Secret binding used by one Ingress host. */
export function aKubernetesBinding(over: Partial<KubernetesSecretBinding> = {}): KubernetesSecretBinding {
  return {
    kind: "kubernetesSecret",
    certificate: CERT,
    source: "discovered",
    cluster: "lab",
    namespace: "api",
    secretName: "api-tls",
    role: "tls",
    ingressHosts: ["backend.contoso.test"],
    restartDeployments: [],
    ...over,
  };
}
