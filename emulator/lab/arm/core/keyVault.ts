/**
 * What the ARM resource providers need from Key Vault: the version a reference resolves to now and
 * the certificate facts ARM reports (thumbprint, subject, expiry, SANs, issuer). Read through the
 * Key Vault service's in-process API (registry "keyvault", emulator/lab/keyvault/api.ts) when it
 * runs; without it, references stay unresolved (versionless, no thumbprint) and the lab logs it.
 */
import { X509Certificate } from "node:crypto";
import type { LabContext } from "../../core/lab.js";
import { KEYVAULT_API, type KeyVaultApi } from "../../keyvault/api.js";

export interface SecretCoordinates {
  vaultName: string;
  secretName: string;
  /** Absent or empty: the current version. */
  version?: string;
}

/** Public facts of the certificate behind a secret version (no key material). */
export interface CertificateFacts {
  /** SHA-1 of the DER, hex upper case, as ARM shows thumbprints. */
  thumbprint: string;
  /** E.g. `CN=api.contoso.test`. */
  subject: string;
  issuer: string;
  /** ISO 8601. */
  notAfter: string;
  notBefore: string;
  subjectAlternativeNames: string[];
}

export interface ResolvedSecret extends SecretCoordinates {
  version: string;
  /** Versioned data-plane URL. */
  secretUrl: string;
  certificate?: CertificateFacts;
}

/** Adapter over the lab Key Vault. */
export interface KeyVaultAccess {
  /** True when the Key Vault service runs in this lab. */
  readonly available: boolean;
  /** `https://{vault}.vault.localhost:{port}` for a vault of the lab. */
  vaultUrl(vaultName: string): string;
  /** The version `ref` designates now (its own version, or the current one), with its certificate facts. */
  resolve(ref: SecretCoordinates): Promise<ResolvedSecret | undefined>;
  /** True when `principalId` may read the secret (always true without the Key Vault service). */
  canRead(principalId: string, vaultName: string, secretName: string): boolean;
}

export function keyVaultAccess(ctx: LabContext): KeyVaultAccess {
  const api = () => ctx.registry.get(KEYVAULT_API) as KeyVaultApi | undefined;
  const fallbackUrl = (vaultName: string) =>
    `https://${vaultName}.vault.localhost:${ctx.servers.keyVault.port}`;
  return {
    get available() {
      return api() !== undefined;
    },
    vaultUrl(vaultName) {
      const kv = api();
      return kv && kv.vaults().includes(vaultName) ? kv.vaultUrl(vaultName) : fallbackUrl(vaultName);
    },
    resolve(ref) {
      // The lab Key Vault answers in process; a throw still becomes the promise's rejection.
      return new Promise<ResolvedSecret | undefined>((done) => {
        const kv = api();
        if (!kv || !kv.vaults().includes(ref.vaultName)) return done(undefined);
        const info = ref.version
          ? kv.versions(ref.vaultName, ref.secretName).find((v) => v.version === ref.version)
          : kv.currentVersion(ref.vaultName, ref.secretName);
        if (!info) return done(undefined);
        done({
          vaultName: ref.vaultName,
          secretName: ref.secretName,
          version: info.version,
          secretUrl: info.secretId,
          certificate: { ...certificateFacts(info.certPem)!, thumbprint: info.thumbprint },
        });
      });
    },
    canRead(principalId, vaultName, secretName) {
      const kv = api();
      return !kv || kv.canReadSecret(principalId, vaultName, secretName);
    },
  };
}
/** Facts of the first certificate of a PEM chain. */
export function certificateFacts(chainPem: string): CertificateFacts | undefined {
  const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(chainPem)?.[0];
  if (!first) return undefined;
  const cert = new X509Certificate(first);
  return {
    thumbprint: cert.fingerprint.replace(/:/g, "").toUpperCase(),
    subject: distinguishedName(cert.subject),
    issuer: distinguishedName(cert.issuer),
    notAfter: new Date(cert.validTo).toISOString(),
    notBefore: new Date(cert.validFrom).toISOString(),
    subjectAlternativeNames: (cert.subjectAltName ?? "")
      .split(/,\s*/)
      .filter((s) => s.startsWith("DNS:"))
      .map((s) => s.slice(4)),
  };
}

/** node:crypto prints one RDN per line, most significant first; ARM shows `CN=…, O=…`. */
function distinguishedName(lines: string): string {
  return lines.split("\n").filter(Boolean).reverse().join(", ");
}
