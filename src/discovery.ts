/**
 * Binding discovery across the configured scopes: Front Door profiles whose customer-certificate
 * secrets reference a vault certificate (with the custom domains using each secret), APIM services
 * whose hostname configurations or `certificates` entities reference one (with the backends using
 * the entity), Kubernetes Secrets annotated with their vault certificate (with the Ingress hosts
 * using them), plus the explicit bindings file. One scope failing becomes a warning, never hides
 * the others; for one certificate, only the warnings of what might bind it are answered as warnings
 * (the others as `unrelated`, see src/domain/discoveryScope.ts).
 *
 * Each binding also gets the addresses its service says it serves from, where the service states
 * them (`discoveredAddresses`): probes connect there instead of resolving the public host name, which
 * at an inner hop often resolves to the hop in front of it. APIM: see {@link apimAddresses};
 * Kubernetes: the Ingresses' `status.loadBalancer`; Front Door: none (it is the outermost hop, so
 * its custom domain's own DNS is what clients reach).
 */
import { readFile } from "node:fs/promises";
import type { AdditionalLocation, ApiManagementServiceResource } from "@azure/arm-apimanagement";
import YAML from "yaml";
import type { Composition } from "./composition.js";
import type { ArmScope } from "./config.js";
import { parseArmId, ArmTypes } from "./domain/armIds.js";
import {
  mergeBindings,
  parseBindingsFile,
  type ApimHostnameType,
  type Binding,
  type CertificateRef,
  type DeclaredReferences,
  type ProbeAddress,
} from "./domain/bindings.js";
import { blockingWarnings, type DiscoveryWarning } from "./domain/discoveryScope.js";
import type { Reasoned } from "./domain/rollback.js";
import { applyWritePolicy, type IgnoredBinding } from "./domain/writePolicy.js";
import { describeSdkError } from "./azure/sdkErrors.js";
import { findAnnotatedSecrets, kubeApis } from "./kubernetes/tlsSecrets.js";

/** A Key Vault reference read from a Front Door `secretSource.id` (ARM) or an APIM `keyVaultId` (URL). */
export interface VaultReference {
  vaultName: string;
  certificateName: string;
  version?: string;
  /** ARM id of the vault, when the reference was an ARM id. */
  vaultResourceId?: string;
}

/** Parses `/subscriptions/…/vaults/{v}/secrets/{name}[/{version}]`. */
export function parseVaultArmReference(id: string | undefined, version?: string): VaultReference | undefined {
  const m =
    /^(\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.KeyVault\/vaults\/([^/]+))\/(?:secrets|certificates)\/([^/]+)(?:\/([^/]+))?\/?$/i.exec(
      id?.trim() ?? "",
    );
  if (!m) return undefined;
  const v = version ?? m[4];
  return { vaultResourceId: m[1]!, vaultName: m[2]!, certificateName: m[3]!, ...(v ? { version: v } : {}) };
}

/** Parses `https://{vault}.vault…/secrets/{name}[/{version}]`. */
export function parseVaultUrlReference(url: string | undefined): VaultReference | undefined {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    const m = /^\/(?:secrets|certificates)\/([^/]+)(?:\/([^/]+))?\/?$/.exec(u.pathname);
    if (!m) return undefined;
    return {
      vaultName: u.hostname.split(".")[0]!,
      certificateName: m[1]!,
      ...(m[2] ? { version: m[2] } : {}),
    };
  } catch {
    return undefined;
  }
}

const same = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();
const matches = (r: VaultReference | undefined, ref: CertificateRef | undefined): r is VaultReference =>
  !!r && (!ref || (same(r.vaultName, ref.vaultName) && same(r.certificateName, ref.certificateName)));

/** What discovery found, and what it could not read. */
export interface DiscoveryResult {
  bindings: Binding[];
  /** What could not be read (for one certificate: only what might bind it). */
  warnings: DiscoveryWarning[];
  /** For one certificate: unreadable resources that cannot bind it (by the bindings file). */
  unrelated?: Reasoned[];
  /** Bindings found but left out by `WRITE_POLICY` (nothing is ever written to them). */
  ignored?: IgnoredBinding[];
  /** Vault ARM ids seen in Front Door secret sources, by lower-case vault name. */
  vaultResourceIds: Map<string, string>;
}

/** A warning for a failed read; `resource`: the one resource it concerns, if it is one. */
const warn = (e: unknown, what: string, resource?: string): DiscoveryWarning => {
  const f = describeSdkError(e, what);
  return { reason: f.code ?? "ScopeUnreadable", message: f.message, ...(resource ? { resource } : {}) };
};

async function armNames(
  scope: ArmScope,
  type: { provider: string; type: string },
  list: {
    byGroup: (rg: string) => AsyncIterable<{ id?: string }>;
    all: () => AsyncIterable<{ id?: string }>;
  },
): Promise<{ resourceGroup: string; name: string; id: string }[]> {
  if (scope.resourceGroup && scope.resourceName) {
    return [
      {
        resourceGroup: scope.resourceGroup,
        name: scope.resourceName,
        id: `/subscriptions/${scope.subscriptionId}/resourceGroups/${scope.resourceGroup}/providers/${type.provider}/${type.type}/${scope.resourceName}`,
      },
    ];
  }
  const out: { resourceGroup: string; name: string; id: string }[] = [];
  for await (const r of scope.resourceGroup ? list.byGroup(scope.resourceGroup) : list.all()) {
    const p = r.id ? parseArmId(r.id, type) : undefined;
    if (p) out.push({ resourceGroup: p.resourceGroup, name: p.name, id: p.id });
  }
  return out;
}

/** Front Door secrets (CustomerCertificate) referencing `ref` (or any certificate), with their domains. */
export async function discoverFrontDoor(
  c: Composition,
  ref: CertificateRef | undefined,
  into: DiscoveryResult,
): Promise<void> {
  for (const scope of c.config.discovery.frontDoorScopes) {
    const client = c.cdnClient(scope.subscriptionId);
    let profiles: { resourceGroup: string; name: string; id: string }[];
    try {
      profiles = await armNames(scope, ArmTypes.frontDoorProfile, {
        byGroup: (rg) => client.profiles.listByResourceGroup(rg),
        all: () => client.profiles.list(),
      });
    } catch (e) {
      into.warnings.push(warn(e, `Listing Front Door profiles in ${scope.id}`));
      continue;
    }
    for (const p of profiles) {
      try {
        const secrets: { name: string; vault: VaultReference }[] = [];
        for await (const s of client.secrets.listByProfile(p.resourceGroup, p.name)) {
          const params = s.parameters as
            { type?: string; secretSource?: { id?: string }; secretVersion?: string } | undefined;
          if (params?.type !== "CustomerCertificate" || !s.name) continue;
          const v = parseVaultArmReference(params.secretSource?.id, params.secretVersion);
          if (v?.vaultResourceId) into.vaultResourceIds.set(v.vaultName.toLowerCase(), v.vaultResourceId);
          if (matches(v, ref)) secrets.push({ name: s.name, vault: v });
        }
        if (secrets.length === 0) continue;
        const domains: { name: string; hostName: string; secret: string }[] = [];
        for await (const d of client.afdCustomDomains.listByProfile(p.resourceGroup, p.name)) {
          const secretId = d.tlsSettings?.secret?.id;
          if (d.name && d.hostName && secretId)
            domains.push({ name: d.name, hostName: d.hostName, secret: secretId.split("/").pop() ?? "" });
        }
        for (const s of secrets) {
          into.bindings.push({
            kind: "frontDoorSecret",
            source: "discovered",
            certificate: { vaultName: s.vault.vaultName, certificateName: s.vault.certificateName },
            profileId: p.id,
            secretName: s.name,
            customDomains: domains
              .filter((d) => same(d.secret, s.name))
              .map((d) => ({ name: d.name, hostName: d.hostName })),
          });
        }
      } catch (e) {
        into.warnings.push(warn(e, `Reading Front Door profile ${p.id}`, p.id));
      }
    }
  }
}

const urlAddress = (url: string | undefined): ProbeAddress[] => {
  try {
    const u = url ? new URL(url) : undefined;
    return u?.hostname ? [{ address: u.hostname.toLowerCase(), port: u.port ? Number(u.port) : 443 }] : [];
  } catch {
    return [];
  }
};

/**
 * Where an APIM service serves a hostname of `type` (`undefined`: its gateway, where the backend
 * client certificates of `certificates` entities are used), as the service's own properties state it:
 * - `virtualNetworkType: Internal`: the private IP addresses of every location (the only way in;
 *   every endpoint sits behind the internal load balancer), port 443;
 * - otherwise the built-in host name of that endpoint (`gatewayUrl` for Proxy — the regional
 *   gateway of each location when there are additional locations, every one must serve —,
 *   `portalUrl`, `developerPortalUrl`, `managementApiUrl`, `scmUrl`): the name a custom domain is a
 *   CNAME of, resolving to the public address or, with a private endpoint, through its private DNS zone.
 * ConfigurationApi states no address: none (the host name is resolved).
 */
export function apimAddresses(
  service: ApiManagementServiceResource,
  type: ApimHostnameType | undefined,
): ProbeAddress[] {
  const locations: AdditionalLocation[] = service.additionalLocations ?? [];
  if (service.virtualNetworkType === "Internal") {
    return [...(service.privateIPAddresses ?? []), ...locations.flatMap((l) => l.privateIPAddresses ?? [])]
      .filter((ip) => ip.trim() !== "")
      .map((ip) => ({ address: ip.trim(), port: 443 }));
  }
  switch (type ?? "Proxy") {
    case "Proxy":
      return locations.length
        ? [
            ...(service.disableGateway ? [] : urlAddress(service.gatewayRegionalUrl)),
            ...locations.filter((l) => !l.disableGateway).flatMap((l) => urlAddress(l.gatewayRegionalUrl)),
          ]
        : urlAddress(service.gatewayUrl);
    case "Portal":
      return urlAddress(service.portalUrl);
    case "DeveloperPortal":
      return urlAddress(service.developerPortalUrl);
    case "Management":
      return urlAddress(service.managementApiUrl);
    case "Scm":
      return urlAddress(service.scmUrl);
    default:
      return [];
  }
}

const withAddresses = (addresses: ProbeAddress[]) =>
  addresses.length ? { discoveredAddresses: addresses } : {};

/** APIM hostnames and certificate entities referencing `ref` (or any certificate). */
export async function discoverApim(
  c: Composition,
  ref: CertificateRef | undefined,
  into: DiscoveryResult,
): Promise<void> {
  for (const scope of c.config.discovery.apimScopes) {
    const client = c.apimClient(scope.subscriptionId);
    let services: { resourceGroup: string; name: string; id: string }[];
    try {
      services = await armNames(scope, ArmTypes.apiManagement, {
        byGroup: (rg) => client.apiManagementService.listByResourceGroup(rg),
        all: () => client.apiManagementService.list(),
      });
    } catch (e) {
      into.warnings.push(warn(e, `Listing API Management services in ${scope.id}`));
      continue;
    }
    for (const svc of services) {
      try {
        const service = await client.apiManagementService.get(svc.resourceGroup, svc.name);
        for (const h of service.hostnameConfigurations ?? []) {
          const v = parseVaultUrlReference(h.keyVaultId);
          if (!matches(v, ref)) continue;
          into.bindings.push({
            kind: "apimHostname",
            source: "discovered",
            certificate: { vaultName: v.vaultName, certificateName: v.certificateName },
            serviceId: svc.id,
            hostnameType: h.type as ApimHostnameType,
            hostName: h.hostName,
            ...withAddresses(apimAddresses(service, h.type as ApimHostnameType)),
          });
        }
        const entities: { id: string; vault: VaultReference }[] = [];
        for await (const cert of client.certificate.listByService(svc.resourceGroup, svc.name)) {
          const v = parseVaultUrlReference(cert.keyVault?.secretIdentifier);
          if (cert.name && matches(v, ref)) entities.push({ id: cert.name, vault: v });
        }
        if (entities.length === 0) continue;
        const backends: { id: string; certificateIds: string[] }[] = [];
        for await (const b of client.backend.listByService(svc.resourceGroup, svc.name)) {
          if (b.name) backends.push({ id: b.name, certificateIds: b.credentials?.certificateIds ?? [] });
        }
        for (const e of entities) {
          into.bindings.push({
            kind: "apimCertificate",
            source: "discovered",
            certificate: { vaultName: e.vault.vaultName, certificateName: e.vault.certificateName },
            serviceId: svc.id,
            certificateId: e.id,
            backendIds: backends
              .filter((b) => b.certificateIds.some((id) => same(id.split("/").pop() ?? id, e.id)))
              .map((b) => b.id),
            ...withAddresses(apimAddresses(service, undefined)),
          });
        }
      } catch (e) {
        into.warnings.push(warn(e, `Reading API Management service ${svc.id}`, svc.id));
      }
    }
  }
}

/** Annotated Kubernetes Secrets referencing `ref` (or any certificate) in every configured cluster and namespace. */
export async function discoverKubernetes(
  c: Composition,
  ref: CertificateRef | undefined,
  into: DiscoveryResult,
): Promise<void> {
  for (const cluster of c.config.discovery.aksClusters) {
    let apis;
    try {
      apis = kubeApis(await c.kubeConfig(cluster.id));
    } catch (e) {
      into.warnings.push(warn(e, `Connecting to cluster ${cluster.name}`));
      continue;
    }
    for (const namespace of c.config.discovery.kubernetesNamespaces) {
      try {
        for (const s of await findAnnotatedSecrets(apis, namespace)) {
          if (!matches({ vaultName: s.vaultName, certificateName: s.certificateName }, ref)) continue;
          into.bindings.push({
            kind: "kubernetesSecret",
            source: "discovered",
            certificate: { vaultName: s.vaultName, certificateName: s.certificateName },
            cluster: cluster.id,
            namespace,
            secretName: s.name,
            role: s.role,
            ingressHosts: s.ingressHosts,
            restartDeployments: s.restartDeployments,
            ...withAddresses(s.ingressAddresses),
          });
        }
      } catch (e) {
        into.warnings.push(warn(e, `Listing Secrets in ${cluster.name}/${namespace}`));
      }
    }
  }
}

/** What the bindings file states: bindings, and what some resources can reference. */
export interface BindingsFile {
  bindings: Binding[];
  references: DeclaredReferences[];
}

const NO_FILE: BindingsFile = { bindings: [], references: [] };

/** The explicit bindings file (JSON or YAML), validated; problems become warnings naming the field. */
export async function readBindingsFile(
  path: string | undefined,
  warnings: Reasoned[],
): Promise<BindingsFile> {
  if (!path) return NO_FILE;
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    warnings.push({
      reason: "BindingsFileUnreadable",
      message: `The bindings file ${path} could not be read (${(e as NodeJS.ErrnoException).code ?? "error"}).`,
    });
    return NO_FILE;
  }
  let parsed: unknown;
  try {
    parsed = /\.ya?ml$/i.test(path) ? YAML.parse(text) : JSON.parse(text);
  } catch {
    warnings.push({
      reason: "BindingsFileInvalid",
      message: `The bindings file ${path} is not valid JSON or YAML.`,
    });
    return NO_FILE;
  }
  const r = parseBindingsFile(parsed);
  if (!r.ok) {
    warnings.push({
      reason: "BindingsFileInvalid",
      message: `The bindings file ${path} does not validate: ${r.errors.map((e) => `${e.path}: ${e.message}`).join("; ")}.`,
    });
    return NO_FILE;
  }
  return { bindings: r.bindings, references: r.references };
}

let vaultIds = new Map<string, string>();

/** Discovers every binding of `ref` (or of every certificate), merged with the explicit file. */
export async function discoverBindings(c: Composition, ref?: CertificateRef): Promise<DiscoveryResult> {
  const result: DiscoveryResult = { bindings: [], warnings: [], vaultResourceIds: new Map() };
  const parts: DiscoveryResult[] = [0, 1, 2].map(() => ({
    bindings: [],
    warnings: [],
    vaultResourceIds: result.vaultResourceIds,
  }));
  await Promise.all([
    discoverKubernetes(c, ref, parts[0]!),
    discoverApim(c, ref, parts[1]!),
    discoverFrontDoor(c, ref, parts[2]!),
  ]);
  const discovered = parts.flatMap((p) => p.bindings);
  result.warnings.push(...parts.flatMap((p) => p.warnings));
  const file = await readBindingsFile(c.config.discovery.bindingsFile, result.warnings);
  const explicit = file.bindings.filter(
    (b) =>
      !ref ||
      (same(b.certificate.vaultName, ref.vaultName) &&
        same(b.certificate.certificateName, ref.certificateName)),
  );
  const allowed = applyWritePolicy(c.config.discovery.writePolicy, mergeBindings(discovered, explicit));
  result.bindings = allowed.allowed;
  result.ignored = allowed.ignored;
  for (const [k, v] of result.vaultResourceIds) vaultIds.set(k, v);
  if (ref) {
    const split = blockingWarnings(result.warnings, ref, file.references, file.bindings);
    result.warnings = split.blocking;
    result.unrelated = split.unrelated;
  }
  return result;
}

/**
 * The ARM id of a vault, as Front Door secrets in the configured scopes reference it (cached per
 * process). Undefined when no Front Door secret references the vault — then no Front Door target
 * needs it either.
 */
export async function vaultResourceId(c: Composition, vaultName: string): Promise<string | undefined> {
  const key = vaultName.toLowerCase();
  if (!vaultIds.has(key) && c.config.discovery.frontDoorScopes.length > 0) {
    const r: DiscoveryResult = { bindings: [], warnings: [], vaultResourceIds: new Map() };
    await discoverFrontDoor(c, undefined, r);
    for (const [k, v] of r.vaultResourceIds) vaultIds.set(k, v);
  }
  return vaultIds.get(key);
}

/** Forgets cached vault ids (tests). */
export function resetDiscoveryCache(): void {
  vaultIds = new Map();
}
