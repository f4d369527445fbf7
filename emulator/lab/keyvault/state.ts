/**
 * The shape of the lab Key Vault's stored state: one JSON document ("keyvault" in the lab store)
 * holding every vault with its certificates (versions, pending operation), soft-deleted
 * certificates, issuers and contacts, plus the lab settings. Times are lab-clock ms.
 */
import type { WirePolicy } from "./wire.js";

/** One completed version of a certificate, with its key and chain. */
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

/** The certificate's pending create operation (`/certificates/<name>/pending`). */
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

/** A certificate: its policy, completed versions (oldest first) and pending operation. */
export interface StoredCertificate {
  name: string;
  policy: WirePolicy;
  tags?: Record<string, string>;
  versions: StoredVersion[];
  pending?: StoredPending;
  preserveCertOrder?: boolean;
}

/** A soft-deleted certificate, recoverable until its scheduled purge date. */
export interface StoredDeleted extends StoredCertificate {
  deletedDate: number;
  scheduledPurgeDate: number;
}

/** A certificate issuer (`/certificates/issuers/<name>`). */
export interface StoredIssuer {
  name: string;
  provider: string;
  accountId?: string;
  orgDetails?: unknown;
  enabled: boolean;
  created: number;
  updated: number;
}

/** A certificate contact (`/certificates/contacts`). */
export interface VaultContact {
  email?: string;
  name?: string;
  phone?: string;
}

/** One vault's contents. */
export interface VaultState {
  name: string;
  certificates: Record<string, StoredCertificate>;
  deleted: Record<string, StoredDeleted>;
  issuers: Record<string, StoredIssuer>;
  contacts?: VaultContact[];
  /** What EmailContacts lifetime actions would have sent. */
  notifications: Array<{ time: string; certificate: string; version: string; action: string }>;
}

/** Lab settings of the vault behaviour (`/lab/keyvault/settings`). */
export interface KeyVaultSettings {
  /** How long a pending create for Self or a CA issuer takes (lab-clock ms). Default 1500. */
  createDelayMs: number;
  /** Days before expiry at which CertificateNearExpiry fires (Key Vault: 30, not configurable). */
  nearExpiryDays: number;
  /** Largest page of list operations (Key Vault: 25); lower it to exercise nextLink paging. */
  pageSize?: number;
}

/** The whole stored document: vaults by lower-case name, and the settings. */
export interface KeyVaultState {
  vaults: Record<string, VaultState>;
  settings: KeyVaultSettings;
}

/** A Key Vault event for Event Grid (`Microsoft.KeyVault.<type>`). */
export interface VaultEvent {
  type: "CertificateNewVersionCreated" | "CertificateNearExpiry" | "CertificateExpired";
  vault: string;
  name: string;
  version: string;
  nbf: Date;
  exp: Date;
}
