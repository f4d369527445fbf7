/**
 * The Binding model: a target that serves a Key Vault certificate (a Front Door secret and the
 * custom domains using it, an APIM hostname, an APIM certificate entity, a Kubernetes Secret), with
 * what the rest of the control plane asks of it: its identity, the resource it lives on, the stage
 * (hop) it belongs to, the host names its certificate must cover and the endpoints to probe.
 *
 * Also: the zod schema of the explicit bindings file (validated here after someone else read it),
 * merging discovered and explicit bindings, and selecting a subset for a manual rollout.
 */
import { isIPv4, isIPv6 } from "node:net";
import { z } from "zod";
import { ArmTypes, normaliseArmId, parseArmId } from "./armIds.js";

/** The hops of the chain, each one a stage of a rollout. */
export type Stage = "kubernetes" | "apim" | "frontDoor";
/** All stages, inner to outer (the default rollout order). */
export const STAGES: readonly Stage[] = ["kubernetes", "apim", "frontDoor"];

/** A certificate in Key Vault, by name. Comparisons are case-insensitive (Key Vault names are). */
export interface CertificateRef {
  vaultName: string;
  certificateName: string;
}

/** Where a binding came from; an explicit one overrides a discovered one for the same target. */
export type BindingSource = "discovered" | "explicit";

/** APIM `hostnameConfigurations[].type` values. */
export const APIM_HOSTNAME_TYPES = [
  "Proxy",
  "Portal",
  "Management",
  "Scm",
  "DeveloperPortal",
  "ConfigurationApi",
] as const;
/** One APIM hostname type. */
export type ApimHostnameType = (typeof APIM_HOSTNAME_TYPES)[number];

/** A place a probe connects to: an IP address or a host name, and a port. */
export interface ProbeAddress {
  address: string;
  port: number;
}

interface BindingCommon {
  certificate: CertificateRef;
  source: BindingSource;
  /** Extra host names to probe, beyond those the binding kind implies. */
  probeHostNames?: string[];
  /**
   * From the bindings file: where to connect to probe this binding's host names instead of resolving
   * them (the host name still goes in SNI and the Host header, and the certificate is checked
   * against it); every address must pass. Wins over everything else. An empty list means: resolve
   * the host names, ignoring {@link BindingCommon.discoveredAddresses}.
   */
  probeAddresses?: ProbeAddress[];
  /**
   * From discovery: where the service itself says it serves the binding (the APIM gateway, the
   * Ingress load balancer). Used when the bindings file gives no `probeAddresses`.
   */
  discoveredAddresses?: ProbeAddress[];
}

/** A Front Door (Standard/Premium) customer-certificate secret and the custom domains that use it. */
export interface FrontDoorSecretBinding extends BindingCommon {
  kind: "frontDoorSecret";
  /** ARM id of the `Microsoft.Cdn/profiles` resource. */
  profileId: string;
  /** Name of the `secrets` resource currently bound. */
  secretName: string;
  /** Custom domains whose `tlsSettings.secret` points at that secret. */
  customDomains: { name: string; hostName: string }[];
}

/** An APIM custom hostname whose `keyVaultId` points at the certificate's secret. */
export interface ApimHostnameBinding extends BindingCommon {
  kind: "apimHostname";
  /** ARM id of the `Microsoft.ApiManagement/service` resource. */
  serviceId: string;
  hostnameType: ApimHostnameType;
  hostName: string;
}

/** An APIM `certificates` entity (a backend client certificate), referenced by backends by id. */
export interface ApimCertificateBinding extends BindingCommon {
  kind: "apimCertificate";
  serviceId: string;
  certificateId: string;
  /** Backends whose `credentials.certificateIds` name this entity. */
  backendIds: string[];
}

/** Role of a Kubernetes Secret binding: a serving pair, or a client-CA bundle. */
export type KubernetesSecretRole = "tls" | "ca";

/** A Kubernetes Secret that carries the certificate, with the Ingress hosts that use it. */
export interface KubernetesSecretBinding extends BindingCommon {
  kind: "kubernetesSecret";
  /** AKS cluster ARM id or kubeconfig context name. */
  cluster: string;
  namespace: string;
  secretName: string;
  /** `tls`: `tls.crt` (leaf and chain) and `tls.key`; `ca`: `ca.crt` for client-certificate auth. */
  role: KubernetesSecretRole;
  /** Hosts of the Ingresses that reference the Secret. */
  ingressHosts: string[];
  /** Deployments (same namespace) to restart after the write, for pods that mount the Secret. */
  restartDeployments: string[];
}

/** A target that serves a Key Vault certificate. */
export type Binding =
  FrontDoorSecretBinding | ApimHostnameBinding | ApimCertificateBinding | KubernetesSecretBinding;

/** What a probe of an endpoint expects. */
export type ProbeExpectation =
  /** The TLS handshake presents the new leaf. */
  | "serves"
  /** A request through the hop succeeds (the certificate is a client certificate or a CA bundle). */
  | "accepts";

/** One endpoint to probe after a change. */
export interface ProbeSpec {
  hostName: string;
  expect: ProbeExpectation;
  /**
   * Where to connect instead of resolving `hostName` (SNI, Host header and name validation stay
   * `hostName`), and where those addresses came from: the bindings file (`explicit`) or discovery.
   * Absent: resolve the host name.
   */
  connectTo?: { source: BindingSource; addresses: ProbeAddress[] };
}

/** `address:port`, with an IPv6 address in brackets. */
export function formatProbeAddress(a: ProbeAddress): string {
  return `${isIPv6(a.address) ? `[${a.address}]` : a.address}:${a.port}`;
}

/**
 * Parses a probe address: `10.1.2.3:443`, `apim-contoso.azure-api.net:443`, `[fd00::1]:443`; the port
 * defaults to 443. Host names are lower-cased. Undefined when it is none of these.
 */
export function parseProbeAddress(text: string): ProbeAddress | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(text.trim());
  if (!m) return undefined;
  const port = m[3] === undefined ? 443 : Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  if (m[1] !== undefined) return isIPv6(m[1]) ? { address: m[1].toLowerCase(), port } : undefined;
  const host = normaliseHostName(m[2]!);
  if (isIPv4(host)) return { address: host, port };
  return HOST.test(host) && !host.startsWith("*.") && host.length <= 253
    ? { address: host, port }
    : undefined;
}

/** The stage (hop) a binding belongs to. */
export function stageOf(binding: Binding): Stage {
  switch (binding.kind) {
    case "kubernetesSecret":
      return "kubernetes";
    case "apimHostname":
    case "apimCertificate":
      return "apim";
    case "frontDoorSecret":
      return "frontDoor";
  }
}

const lower = (s: string) => s.trim().toLowerCase();
/** Normalises a host name for comparison: trimmed, lower case, no trailing dot. */
export const normaliseHostName = (h: string): string => lower(h).replace(/\.$/, "");
const clusterKey = (c: string) => (c.trim().startsWith("/") ? normaliseArmId(c) : c.trim());

/**
 * The resource a binding's write goes to: one Front Door profile, one APIM service, one Kubernetes
 * Secret. Writes to the same resource are coalesced and never overlap.
 */
export function resourceKey(binding: Binding): string {
  switch (binding.kind) {
    case "frontDoorSecret":
      return normaliseArmId(binding.profileId);
    case "apimHostname":
    case "apimCertificate":
      return normaliseArmId(binding.serviceId);
    case "kubernetesSecret":
      return `kubernetes:${clusterKey(binding.cluster)}/namespaces/${binding.namespace}/secrets/${binding.secretName}`;
  }
}

/**
 * The identity of a binding's target; two bindings with the same id are the same target
 * (case-insensitive where Azure is).
 */
export function bindingId(binding: Binding): string {
  switch (binding.kind) {
    case "frontDoorSecret":
      return `${resourceKey(binding)}/secrets/${lower(binding.secretName)}`;
    case "apimHostname":
      return `${resourceKey(binding)}/hostnames/${lower(binding.hostnameType)}/${normaliseHostName(binding.hostName)}`;
    case "apimCertificate":
      return `${resourceKey(binding)}/certificates/${lower(binding.certificateId)}`;
    case "kubernetesSecret":
      return `${resourceKey(binding)}:${binding.role}`;
  }
}

/**
 * Host names the certificate must cover (SAN) for this binding: the names clients connect to. Client
 * certificates and CA bundles have none.
 */
export function namesToCover(binding: Binding): string[] {
  switch (binding.kind) {
    case "frontDoorSecret":
      return unique(binding.customDomains.map((d) => normaliseHostName(d.hostName)));
    case "apimHostname":
      return [normaliseHostName(binding.hostName)];
    case "apimCertificate":
      return [];
    case "kubernetesSecret":
      return binding.role === "tls" ? unique(binding.ingressHosts.map(normaliseHostName)) : [];
  }
}

/** Endpoints to probe once the binding's stage is applied. */
export function probeTargets(binding: Binding): ProbeSpec[] {
  const serving =
    binding.kind !== "apimCertificate" && !(binding.kind === "kubernetesSecret" && binding.role === "ca");
  const expect: ProbeExpectation = serving ? "serves" : "accepts";
  const implied =
    binding.kind === "frontDoorSecret"
      ? binding.customDomains.map((d) => d.hostName)
      : binding.kind === "apimHostname"
        ? [binding.hostName]
        : binding.kind === "kubernetesSecret"
          ? binding.ingressHosts
          : [];
  const hosts = unique([...implied, ...(binding.probeHostNames ?? [])].map(normaliseHostName));
  const connectTo = connectionOf(binding);
  return hosts.map((hostName) => ({ hostName, expect, ...(connectTo ? { connectTo } : {}) }));
}

/** The binding's probe addresses: the bindings file's (even an empty list), else discovery's. */
function connectionOf(binding: Binding): ProbeSpec["connectTo"] {
  const explicit = binding.probeAddresses;
  const found = binding.discoveredAddresses;
  if (explicit !== undefined)
    return explicit.length ? { source: "explicit", addresses: uniqueAddresses(explicit) } : undefined;
  return found?.length ? { source: "discovered", addresses: uniqueAddresses(found) } : undefined;
}

const uniqueAddresses = (as: readonly ProbeAddress[]): ProbeAddress[] => [
  ...new Map(
    as.map((a) => [formatProbeAddress(a).toLowerCase(), { address: a.address, port: a.port }]),
  ).values(),
];

/** A key that tells probes apart: host, expectation and where they connect. */
export function probeKey(p: ProbeSpec): string {
  const to = p.connectTo
    ? `${p.connectTo.source}:${p.connectTo.addresses.map(formatProbeAddress).join(",")}`
    : "";
  return `${normaliseHostName(p.hostName)}|${p.expect}|${to.toLowerCase()}`;
}

/** Whether the target needs the private key exported from Key Vault (we write it ourselves). */
export function requiresExportableKey(binding: Binding): boolean {
  return binding.kind === "kubernetesSecret" && binding.role === "tls";
}

/** Whether the target accepts an EC key (Front Door accepts RSA only). */
export function acceptsEcKey(binding: Binding): boolean {
  return binding.kind !== "frontDoorSecret";
}

/** A short sentence naming the target, for reports and messages. */
export function describeBinding(binding: Binding): string {
  switch (binding.kind) {
    case "frontDoorSecret":
      return `Front Door profile ${parseArmId(binding.profileId)?.name ?? binding.profileId} secret ${binding.secretName} (${binding.customDomains.map((d) => d.hostName).join(", ") || "no domains"})`;
    case "apimHostname":
      return `APIM ${parseArmId(binding.serviceId)?.name ?? binding.serviceId} ${binding.hostnameType} hostname ${binding.hostName}`;
    case "apimCertificate":
      return `APIM ${parseArmId(binding.serviceId)?.name ?? binding.serviceId} certificate ${binding.certificateId}${binding.backendIds.length ? ` (backends ${binding.backendIds.join(", ")})` : ""}`;
    case "kubernetesSecret":
      return `Kubernetes Secret ${binding.namespace}/${binding.secretName} in ${binding.cluster} (${binding.role === "ca" ? "ca.crt" : "tls.crt/tls.key"})`;
  }
}

/** Whether a binding serves the given certificate (names compared case-insensitively). */
export function bindsCertificate(binding: Binding, ref: CertificateRef): boolean {
  return (
    lower(binding.certificate.vaultName) === lower(ref.vaultName) &&
    lower(binding.certificate.certificateName) === lower(ref.certificateName)
  );
}

/**
 * Merges discovered and explicit bindings: one binding per target id, an explicit binding replacing
 * a discovered one for the same target (in place) but keeping the addresses discovery found for it
 * (its own `probeAddresses` still win), the first of any duplicates otherwise kept.
 */
export function mergeBindings(discovered: readonly Binding[], explicit: readonly Binding[]): Binding[] {
  const merged = new Map<string, Binding>();
  for (const b of discovered) if (!merged.has(bindingId(b))) merged.set(bindingId(b), b);
  const seenExplicit = new Set<string>();
  for (const b of explicit) {
    const id = bindingId(b);
    if (seenExplicit.has(id)) continue;
    seenExplicit.add(id);
    const found = merged.get(id)?.discoveredAddresses;
    merged.set(id, found?.length && !b.discoveredAddresses ? { ...b, discoveredAddresses: found } : b);
  }
  return [...merged.values()];
}

/** The outcome of {@link selectTargets}. */
export interface TargetSelection {
  selected: Binding[];
  /** Selectors that matched no binding (a manual request naming these should get a 400). */
  unmatched: string[];
}

/**
 * Selects the bindings a manual rollout names. A selector matches (case-insensitively) a binding's
 * id, the resource it lives on (a Front Door profile or APIM service ARM id, `cluster/namespace/secret`
 * or `namespace/secret` for Kubernetes), one of its probe host names, or a stage name
 * (`kubernetes`, `apim`, `frontDoor`). No selectors means all bindings.
 */
export function selectTargets(
  bindings: readonly Binding[],
  selectors: readonly string[] | undefined,
): TargetSelection {
  if (!selectors || selectors.length === 0) return { selected: [...bindings], unmatched: [] };
  const keysOf = (b: Binding): Set<string> => {
    const keys = [bindingId(b), resourceKey(b), stageOf(b), ...probeTargets(b).map((p) => p.hostName)];
    if (b.kind === "kubernetesSecret") {
      keys.push(`${b.namespace}/${b.secretName}`, `${clusterKey(b.cluster)}/${b.namespace}/${b.secretName}`);
    }
    return new Set(keys.map(lower));
  };
  const index = bindings.map((b) => ({ b, keys: keysOf(b) }));
  const selected = new Set<Binding>();
  const unmatched: string[] = [];
  for (const selector of selectors) {
    const key = lower(selector).replace(/\/+$/, "");
    const hits = index.filter((e) => e.keys.has(key));
    if (hits.length === 0) unmatched.push(selector);
    for (const h of hits) selected.add(h.b);
  }
  return { selected: bindings.filter((b) => selected.has(b)), unmatched };
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}

// ---------------------------------------------------------------------------------------------
// The explicit bindings file

const HOST = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const VAULT_NAME = /^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/;
const KV_OBJECT_NAME = /^[0-9a-zA-Z-]{1,127}$/;

const hostName = z
  .string()
  .trim()
  .max(253)
  .regex(HOST, { error: "must be a DNS host name such as api.contoso.com (a leading *. is allowed)" });
const armId = (t: { provider: string; type: string }) =>
  z
    .string()
    .trim()
    .refine((s) => parseArmId(s, t) !== undefined, {
      error: `must be an ARM id /subscriptions/{id}/resourceGroups/{rg}/providers/${t.provider}/${t.type}/{name}`,
    });
const vaultName = z
  .string()
  .trim()
  .regex(VAULT_NAME, { error: "must be a Key Vault name (3-24 letters, digits, hyphens)" });
const objectName = z
  .string()
  .trim()
  .regex(KV_OBJECT_NAME, { error: "must be a Key Vault certificate name (letters, digits, hyphens)" });

const certificateRef = z.union(
  [
    z.strictObject({ vaultName, certificateName: objectName }),
    z
      .string()
      .trim()
      .regex(/^[^/\s]+\/[^/\s]+$/, { error: 'must be "vault/certificate" or { vaultName, certificateName }' })
      .transform((s) => {
        const [v, c] = s.split("/") as [string, string];
        return { vaultName: v, certificateName: c };
      })
      .pipe(z.strictObject({ vaultName, certificateName: objectName })),
  ],
  { error: 'must be "vault/certificate" or { vaultName, certificateName }' },
);

const probeAddress = z.string({ error: "must be a string address:port" }).transform((s, ctx) => {
  const a = parseProbeAddress(s);
  if (a) return a;
  ctx.addIssue({
    code: "custom",
    message: `must be address:port, e.g. 10.1.2.3:443, apim-contoso.azure-api.net:443 or [fd00::1]:443 (port 1-65535, default 443); '${s}' is not one`,
  });
  return z.NEVER;
});

const common = {
  certificate: certificateRef,
  probeHostNames: z.array(hostName).optional(),
  probeAddresses: z.array(probeAddress).optional(),
};

const frontDoorSchema = z.strictObject({
  kind: z.literal("frontDoorSecret"),
  ...common,
  profileId: armId(ArmTypes.frontDoorProfile),
  secretName: z.string().trim().min(1).max(260),
  customDomains: z
    .array(z.strictObject({ name: z.string().trim().min(1), hostName }))
    .min(1, { error: "must name at least one custom domain" }),
});

const apimHostnameSchema = z.strictObject({
  kind: z.literal("apimHostname"),
  ...common,
  serviceId: armId(ArmTypes.apiManagement),
  hostnameType: z.enum(APIM_HOSTNAME_TYPES).default("Proxy"),
  hostName,
});

const apimCertificateSchema = z.strictObject({
  kind: z.literal("apimCertificate"),
  ...common,
  serviceId: armId(ArmTypes.apiManagement),
  certificateId: z.string().trim().min(1).max(80),
  backendIds: z.array(z.string().trim().min(1)).default([]),
});

const kubernetesSchema = z.strictObject({
  kind: z.literal("kubernetesSecret"),
  ...common,
  cluster: z.string().trim().min(1),
  namespace: z.string().trim().regex(DNS_LABEL, { error: "must be a Kubernetes namespace name (DNS label)" }),
  secretName: z
    .string()
    .trim()
    .max(253)
    .regex(DNS_SUBDOMAIN, { error: "must be a Kubernetes object name (lower-case DNS subdomain)" }),
  role: z.enum(["tls", "ca"]).default("tls"),
  ingressHosts: z.array(hostName).default([]),
  restartDeployments: z
    .array(
      z
        .string()
        .trim()
        .regex(DNS_SUBDOMAIN, { error: "must be a Deployment name (lower-case DNS subdomain)" }),
    )
    .default([]),
});

const bindingSchema = z.discriminatedUnion(
  "kind",
  [frontDoorSchema, apimHostnameSchema, apimCertificateSchema, kubernetesSchema],
  { error: "kind must be one of frontDoorSecret, apimHostname, apimCertificate, kubernetesSecret" },
);

/** `vault/certificate` or `vault/*` (every certificate of the vault). */
const certificatePattern = z
  .string()
  .trim()
  .regex(/^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]\/(\*|[0-9a-zA-Z-]{1,127})$/, {
    error: 'must be "vault/certificate" or "vault/*"',
  });

const referencesSchema = z.strictObject({
  resource: z
    .string()
    .trim()
    .refine(
      (s) =>
        parseArmId(s, ArmTypes.apiManagement) !== undefined ||
        parseArmId(s, ArmTypes.frontDoorProfile) !== undefined,
      { error: "must be the ARM id of an API Management service or a Front Door profile" },
    ),
  certificates: z.array(certificatePattern),
});

/** Schema of the explicit bindings file: `{ bindings: [...], references?: [...] }` (JSON or YAML, parsed elsewhere). */
export const bindingsFileSchema = z.strictObject({
  version: z.literal(1).optional(),
  bindings: z.array(bindingSchema),
  references: z.array(referencesSchema).optional(),
});

/**
 * From the bindings file: the only certificates an APIM service or Front Door profile can reference
 * (`vault/*` for every certificate of a vault). It matters when that resource cannot be read: it
 * then blocks the rollouts of these certificates only (see src/domain/discoveryScope.ts).
 */
export interface DeclaredReferences {
  /** ARM id of the service or profile. */
  resource: string;
  /** `{ vaultName, certificateName }`, `certificateName` `*` for every certificate of the vault. */
  certificates: CertificateRef[];
}

/** One problem in a bindings file: the field path (`bindings[2].serviceId`) and what is wrong. */
export interface FieldError {
  path: string;
  message: string;
}

/** Result of {@link parseBindingsFile}. */
export type ParseBindingsResult =
  { ok: true; bindings: Binding[]; references: DeclaredReferences[] } | { ok: false; errors: FieldError[] };

/** Formats a zod issue path the way people write it: `bindings[2].customDomains[0].hostName`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (acc, p) => (typeof p === "number" ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)),
    "",
  );
}

/** Turns zod issues into field errors naming the path. */
export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((i) => ({ path: formatPath(i.path) || "(root)", message: i.message }));
}

/**
 * Validates a parsed bindings file. Every binding it yields has `source: "explicit"`. Never
 * throws: problems come back as field errors naming the path.
 */
export function parseBindingsFile(parsed: unknown): ParseBindingsResult {
  const r = bindingsFileSchema.safeParse(parsed);
  if (!r.success) return { ok: false, errors: fieldErrors(r.error) };
  const references = (r.data.references ?? []).map((d) => ({
    resource: d.resource,
    certificates: d.certificates.map((c) => {
      const [vaultName, certificateName] = c.split("/") as [string, string];
      return { vaultName, certificateName };
    }),
  }));
  return { ok: true, bindings: r.data.bindings.map((b) => ({ ...b, source: "explicit" })), references };
}
