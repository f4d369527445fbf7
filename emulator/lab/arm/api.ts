/**
 * In-process read API of the lab ARM service (Front Door Standard/Premium, API Management, AKS), for
 * the data-plane hops: what each Front Door custom domain and each APIM gateway host name serves
 * *now* (the configuration that became effective, not one still being deployed), the origins Front
 * Door forwards to, and APIM's backends with their TLS settings and client certificate. Other services
 * find it as `ctx.registry.get("arm")` (use `armApi(ctx.registry)`); it never crosses the wire.
 *
 * Key Vault references are returned as references (vault, secret name, version); resolve them to PEM
 * through the Key Vault in-process API. Every change that becomes effective emits `resource.changed`
 * on the lab bus with `{service: "arm", id: <ARM id of the custom domain, the APIM service or the
 * certificate/backend entity>}`.
 */

/** The registry key of the ARM in-process API. */
export const ARM_SERVICE = "arm";

/** A reference to a Key Vault secret (the secret behind a Key Vault certificate). */
export interface KeyVaultSecretRef {
  /** Vault name, e.g. `kv-contoso`. */
  vaultName: string;
  /** Secret (certificate) name. */
  secretName: string;
  /** The version in effect: pinned by the resource, or resolved at the moment the change was applied. */
  version?: string;
  /** True when the resource follows the latest version (Front Door `useLatestVersion`, a versionless APIM id). */
  followsLatest: boolean;
  /** ARM id of the secret, `/subscriptions/…/providers/Microsoft.KeyVault/vaults/{v}/secrets/{name}`. */
  armId: string;
  /** Data-plane URL of the secret, with the version when known. */
  secretUrl?: string;
}

export type DeploymentStatus = "NotStarted" | "InProgress" | "Succeeded" | "Failed";

/** What one Front Door custom domain serves now. */
export interface FrontDoorDomainView {
  /** ARM id of the custom domain. */
  id: string;
  profileName: string;
  name: string;
  hostName: string;
  /** The certificate served: the `secrets` resource the domain points at and its Key Vault reference. */
  certificate?: {
    /** ARM id of the `Microsoft.Cdn/profiles/secrets` resource. */
    secretId: string;
    keyVault: KeyVaultSecretRef;
    /** SHA-1 thumbprint (hex, upper case) of the served leaf, when the Key Vault API could resolve it. */
    thumbprint?: string;
  };
  minimumTlsVersion?: string;
  /** Deployment status of the *latest* configuration (the served one stays until it is Succeeded). */
  deploymentStatus: DeploymentStatus;
  /** When the served configuration became effective (ISO, lab clock). */
  effectiveSince: string;
  /** Endpoints (host names `*.azurefd.net`) whose routes use this domain. */
  endpointHostNames: string[];
  /** The origins of the origin group the domain's route forwards to. */
  origins: FrontDoorOriginView[];
}

/** One Front Door origin. */
export interface FrontDoorOriginView {
  id: string;
  profileName: string;
  originGroupName: string;
  name: string;
  hostName: string;
  originHostHeader?: string;
  httpsPort: number;
  enforceCertificateNameCheck: boolean;
  enabled: boolean;
}

/** A host name the APIM gateway serves, as last applied. */
export interface ApimHostnameView {
  type: string;
  hostName: string;
  certificateSource: string;
  defaultSslBinding: boolean;
  negotiateClientCertificate: boolean;
  /** For `KeyVault` hostnames: the secret and the version APIM fetched when the update was applied. */
  keyVault?: KeyVaultSecretRef;
  thumbprint?: string;
}

/** A client certificate (`certificates` entity) as APIM holds it. */
export interface ApimCertificateView {
  id: string;
  name: string;
  /** Key Vault reference; `version` is the one fetched at the last create or refreshSecret. */
  keyVault?: KeyVaultSecretRef;
  thumbprint?: string;
  expirationDate?: string;
  subject?: string;
}

export interface ApimBackendView {
  id: string;
  name: string;
  url: string;
  protocol: string;
  tls: { validateCertificateChain: boolean; validateCertificateName: boolean };
  /** The client certificates presented to the backend (from `credentials.certificateIds`). */
  clientCertificates: ApimCertificateView[];
}

/** What one APIM service's gateway serves now. */
export interface ApimGatewayView {
  /** ARM id of the service. */
  id: string;
  name: string;
  /** `Succeeded`, or `Updating` while an infrastructure update runs (the gateway keeps the old config). */
  provisioningState: string;
  /** Gateway (Proxy) host names as applied by the last completed update. */
  hostnames: ApimHostnameView[];
  /** When the served host names became effective (ISO, lab clock). */
  effectiveSince: string;
  backends: ApimBackendView[];
}

/** The simulated AKS cluster. */
export interface ManagedClusterView {
  id: string;
  name: string;
  fqdn: string;
  privateFqdn: string;
  /** URL of the API server the lab serves (the lab Kubernetes server when it runs). */
  apiServerUrl: string;
}

/** The in-process API. Objects returned are copies. */
export interface ArmLabApi {
  /** HTTPS base URL of the lab ARM endpoint. */
  readonly armUrl: string;
  frontDoorDomains(): FrontDoorDomainView[];
  /** The custom domain with this host name (case-insensitive). */
  frontDoorDomain(hostName: string): FrontDoorDomainView | undefined;
  frontDoorOrigins(): FrontDoorOriginView[];
  apimGateways(): ApimGatewayView[];
  /** The APIM service whose gateway serves `hostName` (custom or built-in). */
  apimGatewayFor(hostName: string): { gateway: ApimGatewayView; hostname: ApimHostnameView } | undefined;
  managedClusters(): ManagedClusterView[];
}

/** The ARM API from the lab registry, when the ARM service runs. */
export function armApi(registry: Map<string, unknown>): ArmLabApi | undefined {
  return registry.get(ARM_SERVICE) as ArmLabApi | undefined;
}
