/**
 * What our writes put into a Secret: `tls.crt` (leaf then chain) and `tls.key` for a serving pair,
 * `ca.crt` (the issuing CA chain) for a client-CA bundle, and the annotations that say which vault
 * version it carries. Key material only passes through here on its way into a Secret.
 */
import { X509Certificate } from "node:crypto";
import type { V1Secret } from "@kubernetes/client-node";
import { keyPem, type CertificateMaterial } from "../azure/keyVault.js";
import {
  BACKUP_OF_ANNOTATION,
  ROTATION_ANNOTATION,
  THUMBPRINT_ANNOTATION,
  VERSION_ANNOTATION,
  secretText,
} from "./tlsSecrets.js";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

/** SHA-1 thumbprint (upper-case hex) of the first certificate in a PEM bundle. */
export function leafThumbprint(pem: string | undefined): string | undefined {
  const block = pem?.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/)?.[0];
  if (!block) return undefined;
  try {
    return new X509Certificate(block).fingerprint.replace(/:/g, "").toUpperCase();
  } catch {
    return undefined;
  }
}

/** The data keys a write sets, or the reason it cannot (a TLS pair without an exportable key). */
export function secretData(
  m: CertificateMaterial,
  writeTls: boolean,
  writeCa: boolean,
): { data: Record<string, string> } | { reason: string; message: string } {
  const data: Record<string, string> = {};
  if (writeTls) {
    if (!m.key)
      return {
        reason: "KeyNotExportable",
        message: "The vault secret carries no private key (the key is not exportable).",
      };
    data["tls.crt"] = b64(m.chainPem.map((p) => p.trim()).join("\n") + "\n");
    data["tls.key"] = b64(keyPem(m.key));
  }
  if (writeCa) {
    const chain = m.chainPem.length > 1 ? m.chainPem.slice(1) : m.chainPem;
    data["ca.crt"] = b64(chain.map((p) => p.trim()).join("\n") + "\n");
  }
  return { data };
}

/**
 * The vault version and thumbprint a Secret carries. For a serving pair the certificate decides:
 * the thumbprint is the leaf of `tls.crt`, and our annotations count only while their thumbprint is
 * that leaf's — a `tls.crt` replaced by hand under unchanged annotations names no version (so it is
 * not taken for "already deployed"). Annotations are the fallback when there is no `tls.crt`, and
 * for a client-CA bundle (`role` "ca", whose annotated thumbprint is of a leaf the Secret does not hold).
 */
export function carried(
  s: V1Secret | undefined,
  role: "tls" | "ca" = "tls",
): { version?: string; thumbprint?: string } {
  const a = s?.metadata?.annotations ?? {};
  const annotated = a[THUMBPRINT_ANNOTATION]?.trim().toUpperCase() || undefined;
  const version = a[VERSION_ANNOTATION]?.trim() || undefined;
  const leaf = role === "tls" ? leafThumbprint(secretText(s, "tls.crt")) : undefined;
  if (leaf) return { ...(version && annotated === leaf ? { version } : {}), thumbprint: leaf };
  return { ...(version ? { version } : {}), ...(annotated ? { thumbprint: annotated } : {}) };
}

/** Name of the backup Secret of `name`. */
export const backupName = (name: string): string => `${name}-previous`.slice(0, 253);

/** The label on every Secret this control plane makes for itself (its backups). */
export const MANAGED_BY_LABEL = { "app.kubernetes.io/managed-by": "cert-rotation" } as const;

/**
 * Whose the Secret named like the backup of `secretName` is: `"none"` (absent), `"foreign"` (not a
 * backup we made: never overwritten), or ours, with the rotation run that made it.
 */
export function backupOwner(
  backup: V1Secret | undefined,
  secretName: string,
): { kind: "none" } | { kind: "foreign" } | { kind: "ours"; rotationId?: string } {
  if (!backup) return { kind: "none" };
  const a = backup.metadata?.annotations ?? {};
  const ours =
    backup.metadata?.labels?.["app.kubernetes.io/managed-by"] ===
      MANAGED_BY_LABEL["app.kubernetes.io/managed-by"] && a[BACKUP_OF_ANNOTATION] === secretName;
  if (!ours) return { kind: "foreign" };
  const rotationId = a[ROTATION_ANNOTATION];
  return rotationId ? { kind: "ours", rotationId } : { kind: "ours" };
}

/** A backup copy of `s` (data, type) marking what it is a backup of and which rotation run made it. */
export function backupOf(s: V1Secret, rotationId: string, role: "tls" | "ca" = "tls"): V1Secret {
  const c = carried(s, role);
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: backupName(s.metadata!.name!),
      namespace: s.metadata!.namespace!,
      labels: { ...MANAGED_BY_LABEL },
      annotations: {
        [BACKUP_OF_ANNOTATION]: s.metadata!.name!,
        [ROTATION_ANNOTATION]: rotationId,
        ...(c.version ? { [VERSION_ANNOTATION]: c.version } : {}),
        ...(c.thumbprint ? { [THUMBPRINT_ANNOTATION]: c.thumbprint } : {}),
      },
    },
    ...(s.type ? { type: s.type } : {}),
    data: { ...(s.data ?? {}) },
  };
}

/** `s` with new data keys and annotations, keeping its resourceVersion as the write precondition. */
export function withContent(
  s: V1Secret,
  data: Record<string, string>,
  annotations: Record<string, string | undefined>,
): V1Secret {
  const merged: Record<string, string> = { ...(s.metadata?.annotations ?? {}) };
  for (const [k, v] of Object.entries(annotations)) {
    if (v === undefined) delete merged[k];
    else merged[k] = v;
  }
  return { ...s, metadata: { ...s.metadata, annotations: merged }, data: { ...(s.data ?? {}), ...data } };
}
