/**
 * Bodies shared by the Key Vault handlers: certificate attributes (unix seconds), the certificate
 * bundle, its policy, the pending operation, deleted certificates, and `maxresults`/`$skiptoken`
 * paging; plus the lookups whose misses are Key Vault's 404s.
 */
import type { LabRequest, LabResponse } from "../../core/http.js";
import { certificateFacts } from "../crypto.js";
import type { KeyVaultModel } from "../model.js";
import type { StoredCertificate, StoredDeleted, StoredPending, StoredVersion } from "../state.js";
import { RECOVERABLE_DAYS, RECOVERY_LEVEL, epoch } from "../wire.js";
import { certificateIdNotFound, certificateNotFound } from "./errors.js";

/** A 200 (or `status`) answer with a JSON body. */
export const ok = (body: unknown, status = 200): LabResponse => ({ status, body });

/** The `attributes` of a certificate version (and of its secret). */
export function attributes(v: StoredVersion) {
  const facts = certificateFacts(v.chain[0]!);
  return {
    enabled: v.enabled,
    nbf: epoch(facts.notBefore),
    exp: epoch(facts.notAfter),
    created: epoch(v.created),
    updated: epoch(v.updated),
    recoveryLevel: RECOVERY_LEVEL,
    recoverableDays: RECOVERABLE_DAYS,
  };
}

/** `GET /certificates/{name}/policy`. */
export function policyJson(model: KeyVaultModel, vault: string, cert: StoredCertificate) {
  return { id: `${model.vaultUrl(vault)}/certificates/${cert.name}/policy`, ...cert.policy };
}

/** The certificate bundle of one version, with its policy. */
export function certificateBundle(
  model: KeyVaultModel,
  vault: string,
  cert: StoredCertificate,
  v: StoredVersion,
) {
  const info = model.info(vault, cert, v);
  const tags = v.tags ?? cert.tags;
  return {
    id: info.certificateId,
    kid: `${model.vaultUrl(vault)}/keys/${cert.name}/${v.version}`,
    sid: info.secretId,
    x5t: info.x5t,
    cer: Buffer.from(info.certPem.replace(/-----[A-Z ]+-----|\s+/g, ""), "base64").toString("base64"),
    attributes: attributes(v),
    ...(tags ? { tags } : {}),
    policy: policyJson(model, vault, cert),
    ...(cert.preserveCertOrder !== undefined ? { preserveCertOrder: cert.preserveCertOrder } : {}),
  };
}

/** What GET /certificates/{name}/ answers while only a pending version exists. */
export function pendingBundle(
  model: KeyVaultModel,
  vault: string,
  cert: StoredCertificate,
  p: StoredPending,
) {
  const base = model.vaultUrl(vault);
  return {
    id: `${base}/certificates/${cert.name}/${p.version}`,
    kid: `${base}/keys/${cert.name}/${p.version}`,
    sid: `${base}/secrets/${cert.name}/${p.version}`,
    attributes: {
      enabled: false,
      created: epoch(p.created),
      updated: epoch(p.created),
      recoveryLevel: RECOVERY_LEVEL,
      recoverableDays: RECOVERABLE_DAYS,
    },
    ...(cert.tags ? { tags: cert.tags } : {}),
    policy: policyJson(model, vault, cert),
  };
}

/** The certificate operation (`/certificates/{name}/pending`) of certificate `name`. */
export function operationJson(model: KeyVaultModel, vault: string, name: string, p: StoredPending) {
  const base = model.vaultUrl(vault);
  return {
    id: `${base}/certificates/${name}/pending`,
    issuer: { name: p.issuerName },
    csr: p.csr,
    cancellation_requested: p.cancellationRequested,
    status: p.status,
    ...(p.statusDetails ? { status_details: p.statusDetails } : {}),
    ...(p.error ? { error: p.error } : {}),
    ...(p.status === "completed" ? { target: `${base}/certificates/${name}` } : {}),
    request_id: p.requestId,
  };
}

/** A deleted certificate: its latest version's bundle, with recovery id and dates. */
export function deletedBundle(model: KeyVaultModel, vault: string, d: StoredDeleted) {
  const base = model.vaultUrl(vault);
  const latest = d.versions.at(-1);
  return {
    ...(latest ? certificateBundle(model, vault, d, latest) : { id: `${base}/certificates/${d.name}` }),
    recoveryId: `${base}/deletedcertificates/${d.name}`,
    deletedDate: epoch(d.deletedDate),
    scheduledPurgeDate: epoch(d.scheduledPurgeDate),
  };
}

/** Pages `items` with `maxresults` (max 25) and a `$skiptoken` nextLink, as Key Vault does. */
export function page(model: KeyVaultModel, req: LabRequest, items: unknown[]): LabResponse {
  const limit = model.state.settings.pageSize ?? 25;
  const max = Math.min(limit, Math.max(1, Number(req.query.get("maxresults") ?? limit) || limit));
  const skip = Number(req.query.get("$skiptoken") ?? 0) || 0;
  const slice = items.slice(skip, skip + max);
  let nextLink: string | null = null;
  if (skip + max < items.length) {
    const next = new URL(req.url.toString());
    next.searchParams.set("$skiptoken", String(skip + max));
    next.searchParams.set("maxresults", String(max));
    nextLink = `https://${req.headers.host}${next.pathname}${next.search}`;
  }
  return ok({ value: slice, nextLink });
}

/** The certificate `name`, or Key Vault's 404 for a read. */
export function findCertificate(model: KeyVaultModel, vault: string, name: string): StoredCertificate {
  const cert = model.certificate(vault, name);
  if (!cert) throw certificateNotFound(name);
  return cert;
}

/** The version `version` of a certificate (absent: the latest), or Key Vault's 404. */
export function findVersion(cert: StoredCertificate, version: string | undefined): StoredVersion {
  const v = version ? cert.versions.find((x) => x.version === version) : cert.versions.at(-1);
  if (!v) throw certificateIdNotFound(`${cert.name}/${version ?? ""}`);
  return v;
}
