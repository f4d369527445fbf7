/**
 * The lab Key Vault's state and behaviour: certificates with versions, the pending create operation,
 * issuers, soft delete, lifetime actions and the Event Grid events Key Vault raises. Pure of HTTP:
 * the handlers map wire requests onto it, and its failures are core/errors.ts' KeyVaultErrors.
 * State (state.ts) is one JSON document ("keyvault") saved after each change; times are the lab
 * clock's. Policies are filled and merged by policy.ts, client material is read by material.ts.
 */
import { randomUUID } from "node:crypto";
import type { LabContext } from "../core/lab.js";
import type { CertificateVersionInfo, KeyVaultApi, ResolvedSecret } from "./api.js";
import {
  certificateIdNotFound,
  createOfDeletedCertificate,
  deletedCertificateNotFound,
  importOfDeletedCertificate,
  issuerNotFound,
  nothingToMerge,
  pendingInProgress,
  pendingNotFound,
  policyIssuerNotFound,
  badParameter,
  vaultNotFound,
} from "./core/errors.js";
import {
  buildPem,
  buildPfx,
  certificateFacts,
  createCsr,
  generateKey,
  importKey,
  issueWithCa,
  selfSign,
} from "./crypto.js";
import { readImportedMaterial, readMergedChain } from "./material.js";
import {
  DAY,
  completePolicy,
  importedPolicy,
  keyParams,
  mergePolicy,
  requestParams,
  triggerTime,
} from "./policy.js";
import type {
  KeyVaultState,
  StoredCertificate,
  StoredDeleted,
  StoredIssuer,
  StoredPending,
  StoredVersion,
  VaultContact,
  VaultEvent,
  VaultState,
} from "./state.js";
import { PEM, type WirePolicy } from "./wire.js";

/** Providers the lab's integrated CA answers to (partner CA names are accepted so production-like configs work). */
export const CA_PROVIDERS = ["LabCA", "DigiCert", "GlobalSign"];

/** Secret values built per stored version, with what they were built from. */
const secretValues = new WeakMap<
  StoredVersion,
  { contentType: string; key: string | undefined; chain: string; value: string }
>();

const newVersion = () => randomUUID().replace(/-/g, "");

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
    if (!v) throw vaultNotFound(vault);
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
    // 1. The name is neither soft-deleted nor busy with another create.
    if (vault.deleted[key]) throw createOfDeletedCertificate(name);
    const existing = vault.certificates[key];
    if (existing?.pending?.status === "inProgress") throw pendingInProgress(name);
    // 2. The policy (the request's, else the certificate's), with an issuer the lab can run.
    const now = this.now();
    const policy = completePolicy(body.policy, now, body.policy ? undefined : existing?.policy);
    requireCreateIssuer(vault, policy.issuer.name);
    // 3. The key (new, or the current one when the policy reuses keys) and its request.
    const params = keyParams(policy);
    const reuse = policy.key_props.reuse_key ? existing?.versions.at(-1)?.keyPem : undefined;
    const keyPem = reuse ?? (await generateKey(params)).keyPem;
    const keys = await importKey(keyPem);
    const csr = await createCsr(keys, requestParams(policy, now));
    // 4. The pending operation; an `lroFailed` fault makes it fail when it completes.
    const fault = this.ctx.faults.take("keyvault", `POST /certificates/${name}/create`, "lroFailed");
    const cert: StoredCertificate = existing ?? { name, policy, versions: [] };
    cert.policy = policy;
    if (body.tags) cert.tags = body.tags;
    if (body.preserveCertOrder !== undefined) cert.preserveCertOrder = body.preserveCertOrder;
    cert.pending = {
      ...newPending(policy.issuer.name, csr, keyPem, now, this.state.settings.createDelayMs),
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
          const req = requestParams(cert.policy, this.now());
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
    if (!cert || !p) throw pendingNotFound(name);
    if (p.status !== "inProgress" || p.issuerName !== "Unknown") throw nothingToMerge(name);
    const chain = readMergedChain(body.x5c, p.keyPem);
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

  /** Requests cancellation; an operation still in progress ends `cancelled`. */
  cancelPending(vaultName: string, name: string): StoredPending {
    const cert = this.certificate(vaultName, name);
    const p = cert?.pending;
    if (!p) throw pendingNotFound(name);
    p.cancellationRequested = true;
    if (p.status === "inProgress") {
      p.status = "cancelled";
      p.statusDetails = "Certificate request was cancelled.";
    }
    this.persist();
    return p;
  }

  /** Deletes the pending operation (and the certificate, when it has no completed version). */
  deletePending(vaultName: string, name: string): StoredPending {
    const vault = this.requireVault(vaultName);
    const cert = vault.certificates[name.toLowerCase()];
    const p = cert?.pending;
    if (!cert || !p) throw pendingNotFound(name);
    delete cert.pending;
    if (cert.versions.length === 0) delete vault.certificates[name.toLowerCase()];
    this.persist();
    return p;
  }

  // ---- import / update / delete --------------------------------------------------------------

  /** Imports a PFX or PEM (key and chain) as a new version; the policy follows the material. */
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
    if (vault.deleted[key]) throw importOfDeletedCertificate(name);
    const material = readImportedMaterial(body.value, body.pwd, body.policy?.secret_props?.contentType);
    const existing = vault.certificates[key];
    const policy = importedPolicy(body.policy, material, existing?.policy, this.now());
    const cert: StoredCertificate = existing ?? { name, policy, versions: [] };
    cert.policy = policy;
    if (body.tags) cert.tags = body.tags;
    if (body.preserveCertOrder !== undefined) cert.preserveCertOrder = body.preserveCertOrder;
    vault.certificates[key] = cert;
    this.addVersion(vault, cert, newVersion(), material.chain, material.keyPem, {
      enabled: body.attributes?.enabled,
      tags: body.tags,
    });
    this.persist();
    this.changed(vault.name, cert.name);
    return cert;
  }

  /** Updates a version's (default: the latest) enabled flag and tags, and optionally the policy. */
  updateProperties(
    vaultName: string,
    name: string,
    version: string | undefined,
    body: { attributes?: { enabled?: boolean }; tags?: Record<string, string>; policy?: Partial<WirePolicy> },
  ): { cert: StoredCertificate; version: StoredVersion } {
    const vault = this.requireVault(vaultName);
    const cert = vault.certificates[name.toLowerCase()];
    if (!cert) throw certificateIdNotFound(name);
    const v = version ? cert.versions.find((x) => x.version === version) : cert.versions.at(-1);
    if (!v) throw certificateIdNotFound(`${name}/${version ?? ""}`);
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

  /** Merges a policy PATCH; the issuer must exist and the key parameters stay valid. */
  updatePolicy(vaultName: string, name: string, patch: Partial<WirePolicy>): WirePolicy {
    const cert = this.certificate(vaultName, name);
    if (!cert) throw certificateIdNotFound(name);
    const issuer = patch.issuer?.name;
    if (
      issuer &&
      issuer !== "Self" &&
      issuer !== "Unknown" &&
      !this.vault(vaultName)!.issuers[issuer.toLowerCase()]
    )
      throw policyIssuerNotFound(issuer);
    cert.policy = mergePolicy(cert.policy, patch, this.now());
    keyParams(cert.policy);
    this.persist();
    return cert.policy;
  }

  /** Soft-deletes a certificate (recoverable for 90 days). */
  deleteCertificate(vaultName: string, name: string): StoredDeleted {
    const vault = this.requireVault(vaultName);
    const key = name.toLowerCase();
    const cert = vault.certificates[key];
    if (!cert) throw certificateIdNotFound(name);
    const now = this.now().getTime();
    const deleted: StoredDeleted = { ...cert, deletedDate: now, scheduledPurgeDate: now + 90 * DAY };
    delete deleted.pending;
    delete vault.certificates[key];
    vault.deleted[key] = deleted;
    this.persist();
    this.changed(vault.name, cert.name);
    return deleted;
  }

  /** Purges a soft-deleted certificate. */
  purgeDeleted(vaultName: string, name: string): void {
    const vault = this.requireVault(vaultName);
    if (!vault.deleted[name.toLowerCase()]) throw deletedCertificateNotFound(name);
    delete vault.deleted[name.toLowerCase()];
    this.persist();
  }

  /** Recovers a soft-deleted certificate with its versions. */
  recoverDeleted(vaultName: string, name: string): StoredCertificate {
    const vault = this.requireVault(vaultName);
    const key = name.toLowerCase();
    const d = vault.deleted[key];
    if (!d) throw deletedCertificateNotFound(name);
    const { deletedDate: _d, scheduledPurgeDate: _p, ...cert } = d;
    vault.certificates[key] = cert;
    delete vault.deleted[key];
    this.persist();
    this.changed(vault.name, cert.name);
    return cert;
  }

  // ---- issuers ---------------------------------------------------------------------------------

  /** Creates or replaces (`patch`: updates an existing) issuer. */
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
    if (patch && !existing) throw issuerNotFound(name);
    const provider = body.provider ?? existing?.provider;
    if (!provider) throw badParameter("Property provider is required.");
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

  /** Deletes an issuer. */
  deleteIssuer(vaultName: string, name: string): StoredIssuer {
    const vault = this.requireVault(vaultName);
    const issuer = vault.issuers[name.toLowerCase()];
    if (!issuer) throw issuerNotFound(name);
    delete vault.issuers[name.toLowerCase()];
    this.persist();
    return issuer;
  }

  // ---- contacts --------------------------------------------------------------------------------

  /** Sets the vault's certificate contacts. */
  setContacts(vaultName: string, contacts: VaultContact[]): void {
    this.requireVault(vaultName).contacts = contacts;
    this.persist();
  }

  /** Deletes the vault's certificate contacts. */
  deleteContacts(vaultName: string): void {
    delete this.requireVault(vaultName).contacts;
    this.persist();
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

/** A create's issuer is Self, Unknown, or an issuer of the vault whose provider the lab CA answers to. */
function requireCreateIssuer(vault: VaultState, issuer: string): void {
  if (issuer === "Self" || issuer === "Unknown") return;
  const record = vault.issuers[issuer.toLowerCase()];
  if (!record) throw policyIssuerNotFound(issuer);
  if (!CA_PROVIDERS.includes(record.provider))
    throw badParameter(`The issuer provider '${record.provider}' is not supported by the lab.`);
}

/** A new in-progress create operation, due `delayMs` after `now`. */
function newPending(
  issuerName: string,
  csr: string,
  keyPem: string,
  now: Date,
  delayMs: number,
): StoredPending {
  return {
    requestId: randomUUID().replace(/-/g, ""),
    version: newVersion(),
    issuerName,
    csr,
    keyPem,
    created: now.getTime(),
    dueAt: now.getTime() + delayMs,
    status: "inProgress",
    statusDetails:
      "Pending certificate created. Certificate request is in progress. This may take some time based on the issuer provider. Please check again later.",
    cancellationRequested: false,
  };
}
