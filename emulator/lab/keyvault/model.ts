/**
 * The lab Key Vault's state and behaviour: certificates with versions, the pending create operation,
 * issuers, soft delete, lifetime actions and the Event Grid events Key Vault raises. Pure of HTTP:
 * the service maps wire requests onto it. State is one JSON document ("keyvault") saved after each
 * change; times are the lab clock's.
 */
import { randomUUID } from "node:crypto";
import type { LabContext } from "../core/lab.js";
import type { CertificateVersionInfo, KeyVaultApi, ResolvedSecret } from "./api.js";
import {
  buildPem,
  buildPfx,
  certificateFacts,
  createCsr,
  derBase64ToPem,
  generateKey,
  importKey,
  issueWithCa,
  keyParamsOf,
  orderChain,
  parsePfx,
  pemCertificates,
  pemPrivateKey,
  samePublicKey,
  selfSign,
  type KeyParams,
} from "./crypto.js";
import {
  CLIENT_AUTH,
  PEM,
  PKCS12,
  SERVER_AUTH,
  epoch,
  type WireLifetimeAction,
  type WirePolicy,
} from "./wire.js";

export interface StoredVersion {
  version: string;
  /** Lab-clock ms. */
  created: number;
  updated: number;
  enabled: boolean;
  tags?: Record<string, string>;
  /** Leaf first, then the chain. */
  chain: string[];
  keyPem: string;
  exportable: boolean;
  contentType: string;
  nearExpiryNotified?: boolean;
  expiredNotified?: boolean;
  /** Indexes of lifetime actions already run for this version. */
  actionsDone?: number[];
}

export interface StoredPending {
  requestId: string;
  version: string;
  issuerName: string;
  csr: string;
  keyPem: string;
  created: number;
  /** Lab-clock ms at which a CA/Self request completes. */
  dueAt: number;
  status: "inProgress" | "completed" | "failed" | "cancelled";
  statusDetails?: string;
  error?: { code: string; message: string };
  cancellationRequested: boolean;
  /** Injected failure (fault `lroFailed`). */
  failWith?: { code: string; message: string };
  enabled?: boolean;
  tags?: Record<string, string>;
}

export interface StoredCertificate {
  name: string;
  policy: WirePolicy;
  tags?: Record<string, string>;
  versions: StoredVersion[];
  pending?: StoredPending;
  preserveCertOrder?: boolean;
}

export interface StoredDeleted extends StoredCertificate {
  deletedDate: number;
  scheduledPurgeDate: number;
}

export interface StoredIssuer {
  name: string;
  provider: string;
  accountId?: string;
  orgDetails?: unknown;
  enabled: boolean;
  created: number;
  updated: number;
}

export interface VaultState {
  name: string;
  certificates: Record<string, StoredCertificate>;
  deleted: Record<string, StoredDeleted>;
  issuers: Record<string, StoredIssuer>;
  contacts?: Array<{ email?: string; name?: string; phone?: string }>;
  /** What EmailContacts lifetime actions would have sent. */
  notifications: Array<{ time: string; certificate: string; version: string; action: string }>;
}

export interface KeyVaultSettings {
  /** How long a pending create for Self or a CA issuer takes (lab-clock ms). Default 1500. */
  createDelayMs: number;
  /** Days before expiry at which CertificateNearExpiry fires (Key Vault: 30, not configurable). */
  nearExpiryDays: number;
  /** Largest page of list operations (Key Vault: 25); lower it to exercise nextLink paging. */
  pageSize?: number;
}

export interface KeyVaultState {
  vaults: Record<string, VaultState>;
  settings: KeyVaultSettings;
}

/** Providers the lab's integrated CA answers to (partner CA names are accepted so production-like configs work). */
export const CA_PROVIDERS = ["LabCA", "DigiCert", "GlobalSign"];

export class KeyVaultError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Secret values built per stored version, with what they were built from. */
const secretValues = new WeakMap<
  StoredVersion,
  { contentType: string; key: string | undefined; chain: string; value: string }
>();

const newVersion = () => randomUUID().replace(/-/g, "");
const DAY = 86_400_000;

function addMonths(d: Date, months: number): Date {
  const out = new Date(d.getTime());
  out.setUTCMonth(out.getUTCMonth() + months);
  return out;
}

/** Fills the service defaults into a (partial) policy from a create or import request. */
export function completePolicy(
  input: Partial<WirePolicy> | undefined,
  now: Date,
  base?: WirePolicy,
): WirePolicy {
  const p = input ?? {};
  const issuerName = p.issuer?.name ?? base?.issuer.name ?? "Self";
  const defaultAction = issuerName === "Unknown" ? "EmailContacts" : "AutoRenew";
  return {
    key_props: {
      exportable: p.key_props?.exportable ?? base?.key_props.exportable ?? true,
      kty: p.key_props?.kty ?? base?.key_props.kty ?? "RSA",
      ...((p.key_props?.kty ?? base?.key_props.kty ?? "RSA").startsWith("EC")
        ? { crv: p.key_props?.crv ?? base?.key_props.crv ?? "P-256" }
        : { key_size: p.key_props?.key_size ?? base?.key_props.key_size ?? 2048 }),
      reuse_key: p.key_props?.reuse_key ?? base?.key_props.reuse_key ?? false,
    },
    secret_props: { contentType: p.secret_props?.contentType ?? base?.secret_props.contentType ?? PKCS12 },
    x509_props: {
      subject: p.x509_props?.subject ?? base?.x509_props.subject ?? "CN=DefaultPolicy",
      sans: p.x509_props?.sans ?? base?.x509_props.sans,
      ekus: p.x509_props?.ekus ?? base?.x509_props.ekus ?? [SERVER_AUTH, CLIENT_AUTH],
      key_usage: p.x509_props?.key_usage ??
        base?.x509_props.key_usage ?? ["digitalSignature", "keyEncipherment"],
      validity_months: p.x509_props?.validity_months ?? base?.x509_props.validity_months ?? 12,
      basic_constraints: { ca: false },
    },
    lifetime_actions: p.lifetime_actions ??
      base?.lifetime_actions ?? [
        { trigger: { lifetime_percentage: 80 }, action: { action_type: defaultAction } },
      ],
    issuer: {
      name: issuerName,
      ...((p.issuer?.cty ?? base?.issuer.cty) ? { cty: p.issuer?.cty ?? base?.issuer.cty } : {}),
      ...(p.issuer?.cert_transparency !== undefined || base?.issuer.cert_transparency !== undefined
        ? { cert_transparency: p.issuer?.cert_transparency ?? base?.issuer.cert_transparency }
        : {}),
    },
    attributes: {
      enabled: p.attributes?.enabled ?? base?.attributes.enabled ?? true,
      created: base?.attributes.created ?? epoch(now),
      updated: epoch(now),
    },
  };
}

function keyParams(policy: WirePolicy): KeyParams {
  const kty = policy.key_props.kty.startsWith("EC") ? "EC" : "RSA";
  if (kty === "RSA" && ![2048, 3072, 4096].includes(policy.key_props.key_size ?? 2048)) {
    throw new KeyVaultError(
      400,
      "BadParameter",
      `The key size ${policy.key_props.key_size} is not supported; use 2048, 3072 or 4096.`,
    );
  }
  const crv = policy.key_props.crv ?? "P-256";
  if (kty === "EC" && !["P-256", "P-384", "P-521"].includes(crv)) {
    throw new KeyVaultError(400, "BadParameter", `The curve ${crv} is not supported for certificates.`);
  }
  return { kty, keySize: policy.key_props.key_size ?? 2048, curve: crv as KeyParams["curve"] };
}

/** The moment a lifetime action triggers for a version. */
export function triggerTime(action: WireLifetimeAction, nbf: number, exp: number): number | undefined {
  if (action.trigger.lifetime_percentage !== undefined)
    return nbf + ((exp - nbf) * action.trigger.lifetime_percentage) / 100;
  if (action.trigger.days_before_expiry !== undefined) return exp - action.trigger.days_before_expiry * DAY;
  return undefined;
}

export interface VaultEvent {
  type: "CertificateNewVersionCreated" | "CertificateNearExpiry" | "CertificateExpired";
  vault: string;
  name: string;
  version: string;
  nbf: Date;
  exp: Date;
}

/**
 * The Key Vault model. `emit` receives Key Vault events and resource changes; `persist` saves state.
 */
export class KeyVaultModel implements KeyVaultApi {
  constructor(
    readonly state: KeyVaultState,
    private readonly ctx: Pick<LabContext, "clock" | "pki" | "auth" | "faults">,
    private readonly urls: {
      vaultUrl: (vault: string) => string;
      vaultResourceId: (vault: string) => string;
    },
    private readonly persist: () => void,
    private readonly emit: (event: VaultEvent) => void,
    private readonly changed: (vault: string, name: string) => void,
  ) {}

  // ---- lookups -------------------------------------------------------------------------------

  vault(name: string): VaultState | undefined {
    return this.state.vaults[name.toLowerCase()];
  }

  certificate(vault: string, name: string): StoredCertificate | undefined {
    return this.vault(vault)?.certificates[name.toLowerCase()];
  }

  private requireVault(vault: string): VaultState {
    const v = this.vault(vault);
    if (!v) throw new KeyVaultError(404, "VaultNotFound", `The vault '${vault}' does not exist in the lab.`);
    return v;
  }

  private now(): Date {
    return this.ctx.clock.now();
  }

  // ---- KeyVaultApi ---------------------------------------------------------------------------

  vaults(): string[] {
    return Object.values(this.state.vaults).map((v) => v.name);
  }

  vaultUrl(vault: string): string {
    return this.urls.vaultUrl(vault);
  }

  vaultResourceId(vault: string): string {
    return this.urls.vaultResourceId(vault);
  }

  currentVersion(vault: string, name: string): CertificateVersionInfo | undefined {
    const cert = this.certificate(vault, name);
    const latest = cert?.versions.at(-1);
    return cert && latest ? this.info(vault, cert, latest) : undefined;
  }

  versions(vault: string, name: string): CertificateVersionInfo[] {
    const cert = this.certificate(vault, name);
    return cert ? cert.versions.map((v) => this.info(vault, cert, v)) : [];
  }

  resolveSecret(reference: string, version?: string): ResolvedSecret | undefined {
    let vault: string | undefined;
    let name: string | undefined;
    let ver = version;
    const arm =
      /\/providers\/Microsoft\.KeyVault\/vaults\/([^/]+)\/(?:secrets|certificates)\/([^/?]+)(?:\/([^/?]+))?/i.exec(
        reference,
      );
    if (arm) {
      vault = arm[1];
      name = arm[2];
      ver = ver ?? arm[3];
    } else {
      try {
        const url = new URL(reference);
        vault = url.hostname.split(".")[0];
        const parts = url.pathname.split("/").filter(Boolean);
        if (parts[0] !== "secrets" && parts[0] !== "certificates") return undefined;
        name = parts[1];
        ver = ver ?? parts[2];
      } catch {
        return undefined;
      }
    }
    if (!vault || !name) return undefined;
    const cert = this.certificate(vault, name);
    if (!cert) return undefined;
    const v = ver ? cert.versions.find((x) => x.version === ver) : cert.versions.at(-1);
    if (!v) return undefined;
    return { ...this.info(this.vault(vault)!.name, cert, v), ...(v.exportable ? { keyPem: v.keyPem } : {}) };
  }

  canReadSecret(principalId: string, vault: string, name: string): boolean {
    return this.ctx.auth.isAllowed(principalId, `${this.vaultResourceId(vault)}/secrets/${name}`, {
      dataAction: "Microsoft.KeyVault/vaults/secrets/getSecret/action",
    });
  }

  info(vault: string, cert: StoredCertificate, v: StoredVersion): CertificateVersionInfo {
    const facts = certificateFacts(v.chain[0]!);
    const base = this.vaultUrl(vault);
    return {
      vault,
      name: cert.name,
      version: v.version,
      certificateId: `${base}/certificates/${cert.name}/${v.version}`,
      secretId: `${base}/secrets/${cert.name}/${v.version}`,
      enabled: v.enabled,
      created: new Date(v.created),
      notBefore: facts.notBefore,
      expiresOn: facts.notAfter,
      thumbprint: facts.thumbprint,
      x5t: facts.x5t,
      subject: facts.subject,
      dnsNames: facts.dnsNames,
      exportable: v.exportable,
      contentType: v.contentType,
      certPem: v.chain[0]!,
      chainPem: v.chain.map((pem) => (pem.endsWith("\n") ? pem : `${pem}\n`)).join(""),
    };
  }

  /**
   * The certificate's secret value per its content type: PFX (base64) or PEM, key only if exportable.
   * Built once per version, as Key Vault stores it: every read of a version returns the same bytes
   * (building a PFX derives keys with PBKDF2, which made each secret read cost milliseconds).
   */
  secretValue(v: StoredVersion): string {
    const key = v.exportable ? v.keyPem : undefined;
    const chain = v.chain.join("");
    const built = secretValues.get(v);
    if (built && built.contentType === v.contentType && built.key === key && built.chain === chain)
      return built.value;
    const value = v.contentType === PEM ? buildPem(key, v.chain) : buildPfx(key, v.chain);
    secretValues.set(v, { contentType: v.contentType, key, chain, value });
    return value;
  }

  // ---- create / pending / merge --------------------------------------------------------------

  /** Starts (or, for a new version, restarts) the pending create operation. */
  async beginCreate(
    vaultName: string,
    name: string,
    body: {
      policy?: Partial<WirePolicy>;
      attributes?: { enabled?: boolean };
      tags?: Record<string, string>;
      preserveCertOrder?: boolean;
    },
  ): Promise<StoredCertificate> {
    const vault = this.requireVault(vaultName);
    const key = name.toLowerCase();
    if (vault.deleted[key])
      throw new KeyVaultError(
        409,
        "Conflict",
        `Certificate ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the certificate can only be recovered or purged.`,
      );
    const existing = vault.certificates[key];
    if (existing?.pending?.status === "inProgress")
      throw new KeyVaultError(
        409,
        "Conflict",
        `There is already a pending operation for certificate ${name}.`,
      );
    const now = this.now();
    const policy = completePolicy(body.policy, now, body.policy ? undefined : existing?.policy);
    const issuer = policy.issuer.name;
    if (issuer !== "Self" && issuer !== "Unknown") {
      const record = vault.issuers[issuer.toLowerCase()];
      if (!record) throw new KeyVaultError(400, "BadParameter", `Issuer not found: ${issuer}`);
      if (!CA_PROVIDERS.includes(record.provider))
        throw new KeyVaultError(
          400,
          "BadParameter",
          `The issuer provider '${record.provider}' is not supported by the lab.`,
        );
    }
    const params = keyParams(policy);
    const reuse = policy.key_props.reuse_key ? existing?.versions.at(-1)?.keyPem : undefined;
    const keyPem = reuse ?? (await generateKey(params)).keyPem;
    const keys = await importKey(keyPem);
    const csr = await createCsr(keys, this.requestParams(policy, now));
    const fault = this.ctx.faults.take("keyvault", `POST /certificates/${name}/create`, "lroFailed");
    const cert: StoredCertificate = existing ?? { name, policy, versions: [] };
    cert.policy = policy;
    if (body.tags) cert.tags = body.tags;
    if (body.preserveCertOrder !== undefined) cert.preserveCertOrder = body.preserveCertOrder;
    cert.pending = {
      requestId: randomUUID().replace(/-/g, ""),
      version: newVersion(),
      issuerName: issuer,
      csr,
      keyPem,
      created: now.getTime(),
      dueAt: now.getTime() + this.state.settings.createDelayMs,
      status: "inProgress",
      statusDetails:
        "Pending certificate created. Certificate request is in progress. This may take some time based on the issuer provider. Please check again later.",
      cancellationRequested: false,
      ...(fault
        ? {
            failWith: {
              code: fault.code ?? "CertificateIssuanceFailed",
              message:
                fault.message ??
                "The certificate issuer could not issue the certificate (injected lab fault).",
            },
          }
        : {}),
      ...(body.attributes?.enabled !== undefined ? { enabled: body.attributes.enabled } : {}),
      ...(body.tags ? { tags: body.tags } : {}),
    };
    vault.certificates[key] = cert;
    this.persist();
    this.changed(vault.name, cert.name);
    return cert;
  }

  private requestParams(policy: WirePolicy, now: Date) {
    const notBefore = new Date(now.getTime() - 60_000);
    return {
      subject: policy.x509_props.subject,
      dnsNames: policy.x509_props.sans?.dns_names ?? [],
      ekus: policy.x509_props.ekus ?? [],
      keyUsage: policy.x509_props.key_usage ?? [],
      notBefore,
      notAfter: addMonths(notBefore, policy.x509_props.validity_months),
    };
  }

  /** Completes due pending operations (Self and CA issuers). Returns how many changed. */
  async completeDue(): Promise<number> {
    let n = 0;
    for (const vault of Object.values(this.state.vaults)) {
      for (const cert of Object.values(vault.certificates)) {
        const p = cert.pending;
        if (!p || p.status !== "inProgress" || p.issuerName === "Unknown") continue;
        if (this.now().getTime() < p.dueAt) continue;
        if (p.failWith) {
          p.status = "failed";
          p.error = p.failWith;
          p.statusDetails = p.failWith.message;
        } else {
          const keys = await importKey(p.keyPem);
          const req = this.requestParams(cert.policy, this.now());
          const chain =
            p.issuerName === "Self"
              ? [await selfSign(keys, req)]
              : [await issueWithCa(this.ctx.pki.root, keys, req), this.ctx.pki.root.certPem];
          this.addVersion(vault, cert, p.version, chain, p.keyPem, { enabled: p.enabled, tags: p.tags });
          p.status = "completed";
          p.statusDetails = undefined;
        }
        n++;
        this.persist();
        this.changed(vault.name, cert.name);
      }
    }
    return n;
  }

  /** Merges an externally signed certificate chain into the pending `Unknown` request. */
  mergeCertificate(
    vaultName: string,
    name: string,
    body: { x5c?: string[]; attributes?: { enabled?: boolean }; tags?: Record<string, string> },
  ): StoredCertificate {
    const vault = this.requireVault(vaultName);
    const cert = vault.certificates[name.toLowerCase()];
    const p = cert?.pending;
    if (!cert || !p)
      throw new KeyVaultError(404, "PendingCertificateNotFound", `Pending certificate not found: ${name}`);
    if (p.status !== "inProgress" || p.issuerName !== "Unknown")
      throw new KeyVaultError(
        403,
        "Forbidden",
        `There is no pending certificate request for ${name} that can be merged.`,
      );
    if (!Array.isArray(body.x5c) || body.x5c.length === 0)
      throw new KeyVaultError(
        400,
        "BadParameter",
        "Property x5c is required and must contain at least one certificate.",
      );
    let chain: string[];
    try {
      chain = orderChain(
        body.x5c.map((b) => derBase64ToPem(b)),
        p.keyPem,
      );
    } catch {
      throw new KeyVaultError(
        400,
        "BadParameter",
        "Property x5c contains a value that is not a valid X.509 certificate.",
      );
    }
    if (!samePublicKey(chain[0]!, p.keyPem))
      throw new KeyVaultError(
        400,
        "BadParameter",
        "Public key from x509 certificate and key of this instance doesn't match",
      );
    this.addVersion(vault, cert, p.version, chain, p.keyPem, {
      enabled: body.attributes?.enabled ?? p.enabled,
      tags: body.tags ?? p.tags,
    });
    p.status = "completed";
    p.statusDetails = undefined;
    this.persist();
    this.changed(vault.name, cert.name);
    return cert;
  }

  cancelPending(vaultName: string, name: string): StoredPending {
    const cert = this.certificate(vaultName, name);
    const p = cert?.pending;
    if (!p)
      throw new KeyVaultError(404, "PendingCertificateNotFound", `Pending certificate not found: ${name}`);
    p.cancellationRequested = true;
    if (p.status === "inProgress") {
      p.status = "cancelled";
      p.statusDetails = "Certificate request was cancelled.";
    }
    this.persist();
    return p;
  }

  deletePending(vaultName: string, name: string): StoredPending {
    const vault = this.requireVault(vaultName);
    const cert = vault.certificates[name.toLowerCase()];
    const p = cert?.pending;
    if (!cert || !p)
      throw new KeyVaultError(404, "PendingCertificateNotFound", `Pending certificate not found: ${name}`);
    delete cert.pending;
    if (cert.versions.length === 0) delete vault.certificates[name.toLowerCase()];
    this.persist();
    return p;
  }

  // ---- import / update / delete --------------------------------------------------------------

  importCertificate(
    vaultName: string,
    name: string,
    body: {
      value?: string;
      pwd?: string;
      policy?: Partial<WirePolicy>;
      attributes?: { enabled?: boolean };
      tags?: Record<string, string>;
      preserveCertOrder?: boolean;
    },
  ): StoredCertificate {
    const vault = this.requireVault(vaultName);
    const key = name.toLowerCase();
    if (vault.deleted[key])
      throw new KeyVaultError(
        409,
        "Conflict",
        `Certificate ${name} is currently in a deleted but recoverable state.`,
      );
    if (typeof body.value !== "string" || body.value.length === 0)
      throw new KeyVaultError(400, "BadParameter", "Property value is required.");
    const isPem = body.value.includes("-----BEGIN") || body.policy?.secret_props?.contentType === PEM;
    let keyPem: string | undefined;
    let chain: string[];
    try {
      if (isPem) {
        keyPem = pemPrivateKey(body.value);
        chain = orderChain(pemCertificates(body.value), keyPem);
      } else {
        const parsed = parsePfx(body.value, body.pwd ?? "");
        keyPem = parsed.keyPem;
        chain = parsed.chain;
      }
    } catch {
      throw new KeyVaultError(
        400,
        "BadParameter",
        isPem
          ? "The specified PEM X.509 certificate content is in an unexpected format. Please check if certificate is in valid PEM format."
          : "The specified PKCS#12 X.509 certificate content can not be read. Please check if certificate is in valid PKCS#12 format.",
      );
    }
    if (!keyPem || chain.length === 0)
      throw new KeyVaultError(
        400,
        "BadParameter",
        "The specified X.509 certificate content does not contain a private key, or the key does not match the certificate.",
      );
    if (!samePublicKey(chain[0]!, keyPem))
      throw new KeyVaultError(400, "BadParameter", "The private key does not match the certificate.");
    const now = this.now();
    const facts = certificateFacts(chain[0]!);
    const kp = keyParamsOf(keyPem);
    const existing = vault.certificates[key];
    const policy = completePolicy(
      {
        ...body.policy,
        key_props: {
          exportable: body.policy?.key_props?.exportable ?? existing?.policy.key_props.exportable ?? true,
          kty: kp.kty,
          ...(kp.kty === "EC" ? { crv: kp.curve } : { key_size: kp.keySize }),
          reuse_key: body.policy?.key_props?.reuse_key ?? false,
        },
        secret_props: { contentType: body.policy?.secret_props?.contentType ?? (isPem ? PEM : PKCS12) },
        x509_props: {
          subject: facts.subject,
          sans: facts.dnsNames.length ? { dns_names: facts.dnsNames } : undefined,
          ekus: body.policy?.x509_props?.ekus,
          key_usage: body.policy?.x509_props?.key_usage,
          validity_months: Math.max(
            1,
            Math.round((facts.notAfter.getTime() - facts.notBefore.getTime()) / (30.4 * DAY)),
          ),
        },
        issuer: { name: body.policy?.issuer?.name ?? "Unknown" },
        lifetime_actions: body.policy?.lifetime_actions ?? [
          { trigger: { lifetime_percentage: 80 }, action: { action_type: "EmailContacts" } },
        ],
      },
      now,
      existing?.policy,
    );
    const cert: StoredCertificate = existing ?? { name, policy, versions: [] };
    cert.policy = policy;
    if (body.tags) cert.tags = body.tags;
    if (body.preserveCertOrder !== undefined) cert.preserveCertOrder = body.preserveCertOrder;
    vault.certificates[key] = cert;
    this.addVersion(vault, cert, newVersion(), chain, keyPem, {
      enabled: body.attributes?.enabled,
      tags: body.tags,
    });
    this.persist();
    this.changed(vault.name, cert.name);
    return cert;
  }

  updateProperties(
    vaultName: string,
    name: string,
    version: string | undefined,
    body: { attributes?: { enabled?: boolean }; tags?: Record<string, string>; policy?: Partial<WirePolicy> },
  ): { cert: StoredCertificate; version: StoredVersion } {
    const vault = this.requireVault(vaultName);
    const cert = vault.certificates[name.toLowerCase()];
    if (!cert)
      throw new KeyVaultError(
        404,
        "CertificateNotFound",
        `A certificate with (name/id) ${name} was not found in this key vault.`,
      );
    const v = version ? cert.versions.find((x) => x.version === version) : cert.versions.at(-1);
    if (!v)
      throw new KeyVaultError(
        404,
        "CertificateNotFound",
        `A certificate with (name/id) ${name}/${version ?? ""} was not found in this key vault.`,
      );
    if (body.attributes?.enabled !== undefined) v.enabled = body.attributes.enabled;
    if (body.tags !== undefined) {
      v.tags = body.tags;
      if (!version || v === cert.versions.at(-1)) cert.tags = body.tags;
    }
    if (body.policy) cert.policy = mergePolicy(cert.policy, body.policy, this.now());
    v.updated = this.now().getTime();
    this.persist();
    this.changed(vault.name, cert.name);
    return { cert, version: v };
  }

  updatePolicy(vaultName: string, name: string, patch: Partial<WirePolicy>): WirePolicy {
    const cert = this.certificate(vaultName, name);
    if (!cert)
      throw new KeyVaultError(
        404,
        "CertificateNotFound",
        `A certificate with (name/id) ${name} was not found in this key vault.`,
      );
    const issuer = patch.issuer?.name;
    if (
      issuer &&
      issuer !== "Self" &&
      issuer !== "Unknown" &&
      !this.vault(vaultName)!.issuers[issuer.toLowerCase()]
    )
      throw new KeyVaultError(400, "BadParameter", `Issuer not found: ${issuer}`);
    cert.policy = mergePolicy(cert.policy, patch, this.now());
    keyParams(cert.policy);
    this.persist();
    return cert.policy;
  }

  deleteCertificate(vaultName: string, name: string): StoredDeleted {
    const vault = this.requireVault(vaultName);
    const key = name.toLowerCase();
    const cert = vault.certificates[key];
    if (!cert)
      throw new KeyVaultError(
        404,
        "CertificateNotFound",
        `A certificate with (name/id) ${name} was not found in this key vault.`,
      );
    const now = this.now().getTime();
    const deleted: StoredDeleted = { ...cert, deletedDate: now, scheduledPurgeDate: now + 90 * DAY };
    delete deleted.pending;
    delete vault.certificates[key];
    vault.deleted[key] = deleted;
    this.persist();
    this.changed(vault.name, cert.name);
    return deleted;
  }

  purgeDeleted(vaultName: string, name: string): void {
    const vault = this.requireVault(vaultName);
    if (!vault.deleted[name.toLowerCase()])
      throw new KeyVaultError(404, "CertificateNotFound", `Deleted Certificate not found: ${name}`);
    delete vault.deleted[name.toLowerCase()];
    this.persist();
  }

  recoverDeleted(vaultName: string, name: string): StoredCertificate {
    const vault = this.requireVault(vaultName);
    const key = name.toLowerCase();
    const d = vault.deleted[key];
    if (!d) throw new KeyVaultError(404, "CertificateNotFound", `Deleted Certificate not found: ${name}`);
    const { deletedDate: _d, scheduledPurgeDate: _p, ...cert } = d;
    vault.certificates[key] = cert;
    delete vault.deleted[key];
    this.persist();
    this.changed(vault.name, cert.name);
    return cert;
  }

  // ---- issuers ---------------------------------------------------------------------------------

  setIssuer(
    vaultName: string,
    name: string,
    body: {
      provider?: string;
      credentials?: { account_id?: string };
      org_details?: unknown;
      attributes?: { enabled?: boolean };
    },
    patch: boolean,
  ): StoredIssuer {
    const vault = this.requireVault(vaultName);
    const key = name.toLowerCase();
    const existing = vault.issuers[key];
    if (patch && !existing)
      throw new KeyVaultError(404, "CertificateIssuerNotFound", `Issuer not found: ${name}`);
    const provider = body.provider ?? existing?.provider;
    if (!provider) throw new KeyVaultError(400, "BadParameter", "Property provider is required.");
    const now = this.now().getTime();
    const issuer: StoredIssuer = {
      name: existing?.name ?? name,
      provider,
      accountId: body.credentials?.account_id ?? existing?.accountId,
      orgDetails: body.org_details ?? existing?.orgDetails,
      enabled: body.attributes?.enabled ?? existing?.enabled ?? true,
      created: existing?.created ?? now,
      updated: now,
    };
    vault.issuers[key] = issuer;
    this.persist();
    return issuer;
  }

  deleteIssuer(vaultName: string, name: string): StoredIssuer {
    const vault = this.requireVault(vaultName);
    const issuer = vault.issuers[name.toLowerCase()];
    if (!issuer) throw new KeyVaultError(404, "CertificateIssuerNotFound", `Issuer not found: ${name}`);
    delete vault.issuers[name.toLowerCase()];
    this.persist();
    return issuer;
  }

  // ---- versions, clock-driven behaviour ------------------------------------------------------

  private addVersion(
    vault: VaultState,
    cert: StoredCertificate,
    version: string,
    chain: string[],
    keyPem: string,
    opts: { enabled?: boolean; tags?: Record<string, string> },
  ): StoredVersion {
    const now = this.now().getTime();
    const v: StoredVersion = {
      version,
      created: now,
      updated: now,
      enabled: opts.enabled ?? true,
      ...(opts.tags ? { tags: opts.tags } : {}),
      chain,
      keyPem,
      exportable: cert.policy.key_props.exportable,
      contentType: cert.policy.secret_props.contentType,
    };
    cert.versions.push(v);
    const facts = certificateFacts(chain[0]!);
    this.emit({
      type: "CertificateNewVersionCreated",
      vault: vault.name,
      name: cert.name,
      version,
      nbf: facts.notBefore,
      exp: facts.notAfter,
    });
    return v;
  }

  /**
   * Evaluates what the clock implies: due pending operations, CertificateNearExpiry (current version
   * within `nearExpiryDays` of expiry, once per version), CertificateExpired (once), and lifetime
   * actions (AutoRenew starts a new version; EmailContacts is recorded).
   */
  async evaluate(): Promise<void> {
    await this.completeDue();
    const now = this.now().getTime();
    for (const vault of Object.values(this.state.vaults)) {
      for (const cert of Object.values(vault.certificates)) {
        const current = cert.versions.at(-1);
        if (!current) continue;
        const facts = certificateFacts(current.chain[0]!);
        const nbf = facts.notBefore.getTime();
        const exp = facts.notAfter.getTime();
        const event = {
          vault: vault.name,
          name: cert.name,
          version: current.version,
          nbf: facts.notBefore,
          exp: facts.notAfter,
        };
        let dirty = false;
        if (now >= exp && !current.expiredNotified) {
          current.expiredNotified = true;
          current.nearExpiryNotified = true;
          this.emit({ type: "CertificateExpired", ...event });
          dirty = true;
        } else if (
          now >= exp - this.state.settings.nearExpiryDays * DAY &&
          now < exp &&
          !current.nearExpiryNotified
        ) {
          current.nearExpiryNotified = true;
          this.emit({ type: "CertificateNearExpiry", ...event });
          dirty = true;
        }
        for (const [i, action] of cert.policy.lifetime_actions.entries()) {
          if (current.actionsDone?.includes(i)) continue;
          const at = triggerTime(action, nbf, exp);
          if (at === undefined || now < at) continue;
          current.actionsDone = [...(current.actionsDone ?? []), i];
          dirty = true;
          if (action.action.action_type === "AutoRenew") {
            if (cert.policy.issuer.name !== "Unknown" && cert.pending?.status !== "inProgress") {
              await this.beginCreate(vault.name, cert.name, {});
            }
          } else {
            vault.notifications.push({
              time: new Date(now).toISOString(),
              certificate: cert.name,
              version: current.version,
              action: action.action.action_type,
            });
          }
        }
        if (dirty) this.persist();
      }
    }
    await this.completeDue();
  }
}

/** PATCH semantics of the policy: each given section is merged into the current one. */
export function mergePolicy(current: WirePolicy, patch: Partial<WirePolicy>, now: Date): WirePolicy {
  const next: WirePolicy = {
    key_props: { ...current.key_props, ...patch.key_props },
    secret_props: { ...current.secret_props, ...patch.secret_props },
    x509_props: { ...current.x509_props, ...patch.x509_props },
    lifetime_actions: patch.lifetime_actions ?? current.lifetime_actions,
    issuer: { ...current.issuer, ...patch.issuer },
    attributes: {
      ...current.attributes,
      ...patch.attributes,
      created: current.attributes.created,
      updated: epoch(now),
    },
  };
  if (next.key_props.kty.startsWith("EC")) {
    delete next.key_props.key_size;
    next.key_props.crv ??= "P-256";
  } else {
    delete next.key_props.crv;
    next.key_props.key_size ??= 2048;
  }
  return next;
}
