/**
 * Key Vault wire shapes (snake_case policy, unix-seconds attributes) and its error factory, with the
 * real codes and messages (FACTS.md §2; azure-rest-api-specs KeyVault data plane; SDK recordings).
 */
import type { LabResponse } from "../core/http.js";

/** Policy as it is on the wire and in the lab state. */
export interface WirePolicy {
  key_props: { exportable: boolean; kty: string; key_size?: number; crv?: string; reuse_key: boolean };
  secret_props: { contentType: string };
  x509_props: {
    subject: string;
    sans?: {
      dns_names?: string[];
      emails?: string[];
      upns?: string[];
      uris?: string[];
      ipAddresses?: string[];
    };
    ekus?: string[];
    key_usage?: string[];
    validity_months: number;
    basic_constraints?: { ca: boolean };
  };
  lifetime_actions: WireLifetimeAction[];
  issuer: { name: string; cty?: string; cert_transparency?: boolean };
  attributes: { enabled: boolean; created: number; updated: number };
}

export interface WireLifetimeAction {
  trigger: { lifetime_percentage?: number; days_before_expiry?: number };
  action: { action_type: string };
}

export const PKCS12 = "application/x-pkcs12";
export const PEM = "application/x-pem-file";
export const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
export const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
/** Recovery level of the lab vault (soft delete on, purge protection off: today's default). */
export const RECOVERY_LEVEL = "Recoverable+Purgeable";
export const RECOVERABLE_DAYS = 90;

/** API versions the lab accepts; the SDK default is 2025-07-01. */
export const API_VERSIONS = [
  "2016-10-01",
  "7.0",
  "7.1",
  "7.2",
  "7.3",
  "7.4",
  "7.5",
  "7.6-preview.2",
  "7.6",
  "2025-07-01",
];

/** `{"error":{"code","message","innererror?"}}` with Key Vault's status. */
export function kvError(status: number, code: string, message: string, inner?: string): LabResponse {
  return {
    status,
    body: { error: { code, message, ...(inner ? { innererror: { code: inner } } : {}) } },
  };
}

export const errors = {
  certificateNotFound: (name: string) =>
    kvError(
      404,
      "CertificateNotFound",
      `A certificate with (name/id) ${name} was not found in this key vault. If you recently deleted this certificate you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
    ),
  versionNotFound: (name: string, version: string) =>
    kvError(
      404,
      "CertificateNotFound",
      `A certificate with (name/id) ${name}/${version} was not found in this key vault.`,
    ),
  secretNotFound: (name: string) =>
    kvError(
      404,
      "SecretNotFound",
      `A secret with (name/id) ${name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
    ),
  pendingNotFound: (name: string) =>
    kvError(404, "PendingCertificateNotFound", `Pending certificate not found: ${name}`),
  issuerNotFound: (name: string) => kvError(404, "CertificateIssuerNotFound", `Issuer not found: ${name}`),
  deletedNotFound: (name: string) =>
    kvError(404, "CertificateNotFound", `Deleted Certificate not found: ${name}`),
  badParameter: (message: string) => kvError(400, "BadParameter", message),
  conflict: (message: string) => kvError(409, "Conflict", message),
};

/** Seconds since the epoch, as Key Vault's attributes carry them. */
export const epoch = (d: Date | number): number =>
  Math.floor((typeof d === "number" ? d : d.getTime()) / 1000);
