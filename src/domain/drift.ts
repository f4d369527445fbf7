/**
 * Drift: for each binding, compare what the resource is configured with and what its endpoints
 * actually serve against the vault's current version, classify the difference, and decide whether
 * to repair it by starting a rollout or only to report it.
 */
import { normaliseThumbprint } from "./x509.js";

/** What the resource is configured with. */
export type ConfiguredObservation =
  /** A pinned vault version (APIM versioned `keyVaultId`, Front Door `secretVersion`, our Secret annotation). */
  | { status: "version"; version: string }
  /** Follows the vault's latest version by itself (versionless reference). */
  | { status: "latest" }
  /** The configuration could not be read, or names no vault version (e.g. a hand-made Secret). */
  | { status: "unknown"; message: string };

/** What one endpoint served. */
export type ServedObservation =
  | { hostName: string; status: "served"; thumbprint: string }
  | { hostName: string; status: "unreachable"; message: string }
  /**
   * Not probed for a thumbprint: no host to probe, or the certificate is a client certificate or a
   * CA bundle, whose handshake shows someone else's leaf.
   */
  | { hostName: string; status: "notProbed" };

/** The vault side: the current version and what it looks like. */
export interface VaultCurrent {
  version: string;
  thumbprint: string;
  /** ISO 8601 expiry of the current version. */
  notAfter?: string;
  /** Older versions, to tell a stale certificate from a foreign one. */
  previous?: { version: string; thumbprint: string }[];
}

/** Everything observed about one binding. */
export interface BindingObservation {
  bindingId: string;
  configured: ConfiguredObservation;
  served: ServedObservation[];
}

/** How a binding relates to the vault. */
export type DriftClass =
  /** Configured and serving the current version. */
  | "InSync"
  /** Configured with an older version. */
  | "ConfiguredStale"
  /** Configured right, but an endpoint serves an older version of the certificate. */
  | "ServingStale"
  /** An endpoint serves a certificate that is no version of this one (changed by hand?). */
  | "ServingUnknown"
  /** An endpoint could not be reached, so nothing can be said about it. */
  | "Unreachable"
  /** The configuration could not be read or names no version. */
  | "ConfigurationUnknown"
  /**
   * Configured and serving the current version, but that version expires within the minimum
   * validity (`PREFLIGHT_MIN_VALIDITY_DAYS`) or has expired: the certificate needs a new version.
   */
  | "ExpiringSoon";

/**
 * The repair decision for one binding: `startRollout` rolls the current version out to it, `renew`
 * renews the certificate in Key Vault and rolls the new version out everywhere.
 */
export type DriftAction = "none" | "startRollout" | "renew" | "reportOnly";

/** Classification and decision for one binding, each with a reason and a sentence. */
export interface DriftVerdict {
  bindingId: string;
  classification: DriftClass;
  action: DriftAction;
  reason: string;
  message: string;
}

/** Options of the drift decision. */
export interface DriftOptions {
  /** `DRIFT_MODE`: `repair` starts rollouts; `report` only reports. */
  mode: "repair" | "report";
  /** A rollout of this certificate is already running: report only, it may be mid-propagation. */
  rolloutInProgress?: boolean;
  /**
   * `PREFLIGHT_MIN_VALIDITY_DAYS`: a current version that expires sooner than this needs renewing
   * (and no rollout of it would pass preflight). 0: only an expired version counts.
   */
  minRemainingValidityDays: number;
  /**
   * Whether the drift scan may renew: `RENEW_ON_NEAR_EXPIRY` and an issuer Key Vault renews by
   * itself (Self or integrated CA). When false an expiring version is only reported.
   */
  renew: boolean;
  /**
   * The certificate's held version (its rollout ended RolledBack, Rejected or NeedsAttention) and
   * the sentence that says so: when it is the vault's current version, a drifted binding is only
   * reported, never rolled out to again.
   */
  held?: { version: string; message: string };
}

const DAY_MS = 86_400_000;

/** Why the vault's current version needs a new one at `now`, or undefined when it does not. Pure. */
export function vaultExpiry(
  vault: VaultCurrent,
  now: Date,
  minRemainingValidityDays: number,
): { reason: "VaultVersionExpired" | "ExpiringSoon"; message: string } | undefined {
  if (!vault.notAfter) return undefined;
  const notAfter = new Date(vault.notAfter).getTime();
  if (now.getTime() >= notAfter)
    return {
      reason: "VaultVersionExpired",
      message: `The vault's current version ${vault.version} expired at ${vault.notAfter}.`,
    };
  if (notAfter - now.getTime() < minRemainingValidityDays * DAY_MS)
    return {
      reason: "ExpiringSoon",
      message: `The vault's current version ${vault.version} expires at ${vault.notAfter}, within ${minRemainingValidityDays} days.`,
    };
  return undefined;
}

const same = (a: string, b: string) => normaliseThumbprint(a) === normaliseThumbprint(b);

/** Classifies one binding against the vault's current version. Pure. */
export function classifyBinding(
  obs: BindingObservation,
  vault: VaultCurrent,
): { classification: DriftClass; message: string } {
  // What an endpoint serves outweighs a configuration that names no version: a Secret whose
  // certificate was replaced by hand names none, and a rollout of the current version repairs it.
  const wrongServed = servingWrong(obs, vault);
  if (obs.configured.status === "unknown") {
    const unmatched = `The configuration could not be matched to a vault version: ${obs.configured.message}`;
    return wrongServed
      ? { classification: wrongServed.classification, message: `${unmatched} ${wrongServed.message}` }
      : { classification: "ConfigurationUnknown", message: unmatched };
  }
  if (
    obs.configured.status === "version" &&
    obs.configured.version.toLowerCase() !== vault.version.toLowerCase()
  ) {
    return {
      classification: "ConfiguredStale",
      message: `The resource is configured with version ${obs.configured.version}; the vault's current version is ${vault.version}.`,
    };
  }
  if (wrongServed) return wrongServed;
  const unreachable = obs.served.filter(
    (s): s is Extract<ServedObservation, { status: "unreachable" }> => s.status === "unreachable",
  );
  if (unreachable.length) {
    return {
      classification: "Unreachable",
      message: unreachable.map((u) => `${u.hostName} could not be probed: ${u.message}`).join("; "),
    };
  }
  const probed = obs.served.some((s) => s.status === "served");
  return {
    classification: "InSync",
    message: probed
      ? `Configured with and serving the current version ${vault.version}.`
      : `Configured with the current version ${vault.version}; no endpoint shows this certificate in a handshake.`,
  };
}

/** ServingStale or ServingUnknown when an endpoint serves a leaf other than the vault's current one. */
function servingWrong(
  obs: BindingObservation,
  vault: VaultCurrent,
): { classification: "ServingStale" | "ServingUnknown"; message: string } | undefined {
  const wrong = obs.served.filter(
    (s): s is Extract<ServedObservation, { status: "served" }> =>
      s.status === "served" && !same(s.thumbprint, vault.thumbprint),
  );
  if (!wrong.length) return undefined;
  const known = new Map((vault.previous ?? []).map((p) => [normaliseThumbprint(p.thumbprint), p.version]));
  const foreign = wrong.filter((w) => !known.has(normaliseThumbprint(w.thumbprint)));
  const list = wrong
    .map(
      (w) =>
        `${w.hostName} serves ${normaliseThumbprint(w.thumbprint)}${known.has(normaliseThumbprint(w.thumbprint)) ? ` (version ${known.get(normaliseThumbprint(w.thumbprint))})` : ""}`,
    )
    .join(", ");
  return foreign.length
    ? {
        classification: "ServingUnknown",
        message: `${list}; that is no version of this certificate (current ${vault.thumbprint}).`,
      }
    : {
        classification: "ServingStale",
        message: `${list}, an older version; the current one is ${vault.thumbprint}.`,
      };
}

/** Classifies one binding and decides what to do about it, at `now`. Pure. */
export function judgeDrift(
  obs: BindingObservation,
  vault: VaultCurrent,
  now: Date,
  options: DriftOptions,
): DriftVerdict {
  const classified = classifyBinding(obs, vault);
  const expiry = vaultExpiry(vault, now, options.minRemainingValidityDays);
  const classification: DriftClass =
    classified.classification === "InSync" && expiry ? "ExpiringSoon" : classified.classification;
  const message = classification === "ExpiringSoon" ? (expiry?.message ?? "") : classified.message;
  const base = { bindingId: obs.bindingId, classification };
  if (classification === "InSync") return { ...base, action: "none", reason: "InSync", message };
  if (classification === "Unreachable" || classification === "ConfigurationUnknown") {
    return {
      ...base,
      action: "reportOnly",
      reason: classification,
      message: `${message} A rollout would not help; look at it.`,
    };
  }
  if (expiry && !options.renew) {
    return {
      ...base,
      action: "reportOnly",
      reason: expiry.reason,
      message: `${classification === "ExpiringSoon" ? message : `${message} ${expiry.message}`} It is not rolled out; renew it (the drift scan renews only when RENEW_ON_NEAR_EXPIRY is true and Key Vault can issue it).`,
    };
  }
  if (!expiry && options.held && options.held.version.toLowerCase() === vault.version.toLowerCase()) {
    return {
      ...base,
      action: "reportOnly",
      reason: "VersionHeld",
      message: `${message} ${options.held.message}`,
    };
  }
  if (options.rolloutInProgress) {
    return {
      ...base,
      action: "reportOnly",
      reason: "RolloutInProgress",
      message: `${message} A rollout of this certificate is running.`,
    };
  }
  if (options.mode === "report") {
    return {
      ...base,
      action: "reportOnly",
      reason: "ReportOnlyMode",
      message: `${message} Drift repair is set to report only.`,
    };
  }
  if (expiry) {
    return {
      ...base,
      action: "renew",
      reason: expiry.reason,
      message: `${classification === "ExpiringSoon" ? message : `${message} ${expiry.message}`} Renewing it in Key Vault and rolling out the new version.`,
    };
  }
  return {
    ...base,
    action: "startRollout",
    reason: classification,
    message: `${message} Starting a rollout of version ${vault.version}.`,
  };
}

/** The drift decision for one certificate: each binding's verdict and the rollout to start, if any. */
export interface DriftDecision {
  verdicts: DriftVerdict[];
  /** The repair rollout: the current version to the drifted bindings only. */
  rollout?: { version: string; targets: string[]; reason: string; message: string };
  /**
   * A renewing rollout instead (the current `version` expires): renew in Key Vault, then roll the new
   * version out to every binding (`targets` are the bindings that asked for it).
   */
  renewal?: { version: string; targets: string[]; reason: string; message: string };
  /** Drifted bindings left alone because the current version is held (a person must hear of it). */
  held?: { version: string; targets: string[]; message: string };
}

/**
 * Judges every binding of one certificate and gathers the repairs into one rollout — or, when the
 * vault's current version expires and renewing is allowed, into one renewal. Pure.
 */
export function decideDriftRepair(
  observations: readonly BindingObservation[],
  vault: VaultCurrent,
  now: Date,
  options: DriftOptions,
): DriftDecision {
  const verdicts = observations.map((o) => judgeDrift(o, vault, now, options));
  const renew = verdicts.filter((v) => v.action === "renew");
  if (renew.length > 0) {
    const expiry = vaultExpiry(vault, now, options.minRemainingValidityDays);
    return {
      verdicts,
      renewal: {
        version: vault.version,
        targets: renew.map((v) => v.bindingId),
        reason: expiry?.reason ?? "ExpiringSoon",
        message: `${expiry?.message ?? `Version ${vault.version} needs renewing.`} Renewing it for ${verdicts.length} binding(s).`,
      },
    };
  }
  const heldTargets = verdicts.filter((v) => v.reason === "VersionHeld").map((v) => v.bindingId);
  const held =
    heldTargets.length > 0 && options.held
      ? { held: { version: vault.version, targets: heldTargets, message: options.held.message } }
      : {};
  const repair = verdicts.filter((v) => v.action === "startRollout");
  if (repair.length === 0) return { verdicts, ...held };
  const kinds = [...new Set(repair.map((v) => v.classification))];
  return {
    verdicts,
    rollout: {
      version: vault.version,
      targets: repair.map((v) => v.bindingId),
      reason: kinds.length === 1 ? (kinds[0] as string) : "Drift",
      message: `${repair.length} of ${verdicts.length} binding(s) drifted from version ${vault.version} (${kinds.join(", ")}).`,
    },
  };
}
