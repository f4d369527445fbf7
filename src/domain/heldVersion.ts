/**
 * Failed versions are remembered: a version whose rollout ended `RolledBack`, `Rejected` or
 * `NeedsAttention` is held, and neither the drift scan nor a Key Vault event rolls it out again
 * until an operator retries it (`POST /api/certificates/{vault}/{certificate}/retry`) or a newer
 * version becomes current. One hold per certificate: the last failed version. Pure.
 */
import type { Config } from "../config.js";
import type { RolloutPolicy, RotationInput } from "../orchestrations/policy.js";
import { allowedVault } from "./allowedVaults.js";
import type { CertificateRef } from "./bindings.js";
import { runIdOf, type RolloutReport } from "./report.js";

/** The final states that hold the version they tried to roll out. */
export const HOLDING_STATES = ["RolledBack", "Rejected", "NeedsAttention"] as const;

/** A certificate's held version: which, and the rollout that failed with it. */
export interface HeldVersion {
  version: string;
  /** The failed rollout's final state, reason and sentence. */
  state: (typeof HOLDING_STATES)[number];
  reason: string;
  message: string;
  /** The run id of the failed rollout. */
  runId: string;
  /** ISO 8601: when that rollout ended. */
  heldAt: string;
}

/** What a finished rollout means for its certificate's hold. */
export type HoldChange =
  | { action: "hold"; held: HeldVersion }
  /** The version was rolled out and verified: a hold of it, if any, is over. */
  | { action: "release"; version: string }
  | { action: "none" };

const sameVersion = (a: string | undefined, b: string | undefined) =>
  a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();

/**
 * The hold a finished rollout leaves: a failed rollout of a known version holds it; a verified one
 * releases it. Dry runs, cancels, and failures before a version was known change nothing.
 */
export function holdChange(report: RolloutReport): HoldChange {
  const version = report.versions.next?.version;
  const outcome = report.outcome;
  if (!outcome || report.dryRun || !version) return { action: "none" };
  if (outcome.state === "Succeeded") return { action: "release", version };
  const state = HOLDING_STATES.find((s) => s === outcome.state);
  if (!state) return { action: "none" };
  return {
    action: "hold",
    held: {
      version,
      state,
      reason: outcome.reason,
      message: outcome.message,
      runId: runIdOf(report),
      heldAt: report.finishedAt ?? report.startedAt,
    },
  };
}

/** The hold when it holds `version`, else undefined. */
export const holding = (held: HeldVersion | undefined, version: string): HeldVersion | undefined =>
  held && sameVersion(held.version, version) ? held : undefined;

/** The route of the retry of a certificate's held version. */
export const retryRoute = (c: CertificateRef): string =>
  `POST /api/certificates/${c.vaultName}/${c.certificateName}/retry`;

/** Why `held` is not rolled out again, and how to release it: one sentence. */
export const heldSentence = (c: CertificateRef, held: HeldVersion): string =>
  `Version ${held.version} of ${c.vaultName}/${c.certificateName} is held: its rollout ${held.runId} ended ${held.state} (${held.reason}) at ${held.heldAt}; it is not rolled out again until an operator retries it (${retryRoute(c)}) or a newer version appears.`;

const NAME = /^[0-9a-zA-Z-]{1,127}$/;

/** The route parameters of a retry, read as an allowed certificate, or why not (400, the field). */
export type ParsedRetryRoute =
  { ok: true; certificate: CertificateRef } | { ok: false; field: string; message: string };

/** Reads `{vault}` (an allowed vault's name or URL) and `{certificate}` (a Key Vault object name). */
export function parseRetryRoute(
  params: { vault?: string; certificate?: string },
  config: Pick<Config, "allowedVaultUrls">,
): ParsedRetryRoute {
  const vault = (params.vault ?? "").trim();
  const certificateName = (params.certificate ?? "").trim();
  const vaultName = vault ? allowedVault(config, vault) : undefined;
  if (!vaultName)
    return {
      ok: false,
      field: "vault",
      message: `Route vault: '${vault}' is not one of ALLOWED_VAULT_URLS.`,
    };
  if (!NAME.test(certificateName))
    return {
      ok: false,
      field: "certificate",
      message: `Route certificate: '${certificateName}' must be a Key Vault object name (letters, digits, hyphens).`,
    };
  return { ok: true, certificate: { vaultName, certificateName } };
}

/** The rotation input of an operator's retry: a manual rollout of the held version to every binding. */
export function retryRotationInput(
  certificate: CertificateRef,
  held: HeldVersion,
  requestId: string,
  policy: RolloutPolicy,
): RotationInput {
  return {
    certificate,
    request: { kind: "manual", version: held.version, dryRun: false, renew: false },
    trigger: {
      kind: "manual",
      detail: `${retryRoute(certificate)}: retry of held version ${held.version} (${held.state} in ${held.runId})`,
      requestId,
    },
    policy,
  };
}
