/**
 * The ARM service's persisted world (one JSON document, "arm"): Front Door profiles with their
 * secrets, custom domains, endpoints, routes and origins; APIM services with their `certificates`
 * and `backends` entities; AKS clusters; running long-running operations; and the lab settings
 * (durations, conflict mode). Maps are keyed by lower-case name (ARM names are case-insensitive).
 */
import type { KeyVaultSecretRef } from "../api.js";

/** Durations and modes tests and demos tune through `POST /lab/arm/settings`. */
export interface ArmSettings {
  /** How long a Front Door secret or custom domain write stays `InProgress` (ms). */
  frontDoorOperationMs: number;
  /** How long a Front Door deployment stays `InProgress` after the write succeeded (ms). */
  frontDoorDeploymentMs: number;
  /** How long an APIM infrastructure update (host names, certificates, sku) takes (ms). */
  apimUpdateMs: number;
  /** The answer to a second APIM infrastructure update while one runs: 409 Conflict or 429 RetryableErrorDueToAnotherOperation. */
  apimConflict: { status: 409 | 429; retryAfterSeconds: number };
  /** `Retry-After` (seconds) on 202s and on in-progress status resources; 0 sends none (pollers then use their own interval). */
  lroRetryAfterSeconds: number;
  /** Page size of list operations (`nextLink` beyond). */
  pageSize: number;
}

export const DEFAULT_SETTINGS: ArmSettings = {
  frontDoorOperationMs: 300,
  frontDoorDeploymentMs: 700,
  apimUpdateMs: 1500,
  apimConflict: { status: 409, retryAfterSeconds: 1 },
  lroRetryAfterSeconds: 0,
  pageSize: 50,
};

export interface ErrorInfo {
  code: string;
  message: string;
}

export type OperationKind = "afdSecret" | "afdDomain" | "apimUpdate";

/** A long-running operation (an `Azure-AsyncOperation` status resource). */
export interface OperationState {
  id: string;
  kind: OperationKind;
  /** ARM id of the resource the operation writes. */
  resourceId: string;
  status: "InProgress" | "Succeeded" | "Failed";
  startTime: string;
  endTime?: string;
  /** Lab-clock ms when it completes (ignored while `stuck`). */
  dueAt: number;
  /** Set by the `lroFailed` fault: the operation ends Failed with this error. */
  failWith?: ErrorInfo;
  /** Set by the `apimStuck` fault: never completes while such a fault rule exists. */
  stuck?: boolean;
  error?: ErrorInfo;
}

/** What a custom domain serves: computed when a deployment starts, effective when it ends. */
export interface DomainTls {
  secretId?: string;
  keyVault?: KeyVaultSecretRef;
  thumbprint?: string;
  minimumTlsVersion?: string;
}

export interface SecretState {
  name: string;
  /** `properties.parameters` as ARM returns them (read-only facts filled in). */
  parameters: Record<string, unknown>;
  provisioningState: string;
  deploymentStatus: string;
}

export interface DomainState {
  name: string;
  /** User-settable properties: hostName, tlsSettings, azureDnsZone, preValidatedCustomDomainResourceId, extendedProperties. */
  properties: Record<string, unknown>;
  provisioningState: string;
  deploymentStatus: string;
  domainValidationState: string;
  validationToken: string;
  /** The served configuration and since when (ISO). */
  effective: DomainTls & { since: string };
  /** A deployment in progress: its target, when it ends, and whether a fault holds it. */
  deployment?: { target: DomainTls; dueAt: number; stuck?: boolean; failWith?: ErrorInfo };
}

/** A child resource we only serve (endpoints, routes, origin groups, origins). */
export interface PlainResource {
  name: string;
  properties: Record<string, unknown>;
}

export interface ProfileState {
  name: string;
  location: string;
  sku: string;
  tags: Record<string, string>;
  frontDoorId: string;
  secrets: Record<string, SecretState>;
  customDomains: Record<string, DomainState>;
  endpoints: Record<string, PlainResource & { routes: Record<string, PlainResource> }>;
  originGroups: Record<string, PlainResource & { origins: Record<string, PlainResource> }>;
}

export interface ApimCertificateState {
  name: string;
  etag: number;
  properties: Record<string, unknown>;
  /** The Key Vault version fetched at the last create or refreshSecret. */
  keyVault?: KeyVaultSecretRef;
}

export interface ApimBackendState {
  name: string;
  etag: number;
  properties: Record<string, unknown>;
}

export interface ApimServiceState {
  name: string;
  location: string;
  sku: { name: string; capacity: number };
  tags: Record<string, string>;
  identity: Record<string, unknown>;
  etag: number;
  /** `properties` as the user sees them (desired), without provisioningState. */
  properties: Record<string, unknown>;
  provisioningState: string;
  /** The properties before the running update, restored if it fails. */
  previousProperties?: Record<string, unknown>;
  operationId?: string;
  /** What the gateway serves: host names with their resolved Key Vault versions. */
  applied: { hostnames: AppliedHostname[]; since: string };
  certificates: Record<string, ApimCertificateState>;
  backends: Record<string, ApimBackendState>;
}

export interface AppliedHostname {
  type: string;
  hostName: string;
  certificateSource: string;
  defaultSslBinding: boolean;
  negotiateClientCertificate: boolean;
  keyVault?: KeyVaultSecretRef;
  thumbprint?: string;
}

export interface ClusterState {
  name: string;
  /** The lab API server URL (refreshed at every start: ports may change). */
  apiServerUrl: string;
  location: string;
  tags: Record<string, string>;
  properties: Record<string, unknown>;
}

export interface ArmState {
  settings: ArmSettings;
  profiles: Record<string, ProfileState>;
  apim: Record<string, ApimServiceState>;
  clusters: Record<string, ClusterState>;
  operations: Record<string, OperationState>;
}
