/**
 * Builders of the policies domain code takes as values: each starts from the app settings' defaults
 * (the settings table in src/config.ts, the one source of defaults), then applies the test's changes.
 */
import { settingDefault } from "../../src/config.js";
import type { DriftOptions } from "../../src/domain/drift.js";
import type { StagePolicy } from "../../src/domain/plan.js";
import type { PreflightInput } from "../../src/domain/preflight.js";

/** A stage policy with the settings' defaults: `STAGE_ORDER`, `PROBE_DEADLINE_*_SECONDS`, `PROBE_INTERVAL_SECONDS`. */
export function aStagePolicy(over: Partial<StagePolicy> = {}): StagePolicy {
  const interval = settingDefault("PROBE_INTERVAL_SECONDS");
  return {
    order: settingDefault("STAGE_ORDER"),
    probeDeadlineSeconds: {
      kubernetes: settingDefault("PROBE_DEADLINE_KUBERNETES_SECONDS"),
      apim: settingDefault("PROBE_DEADLINE_APIM_SECONDS"),
      frontDoor: settingDefault("PROBE_DEADLINE_FRONT_DOOR_SECONDS"),
    },
    probeIntervalSeconds: { kubernetes: interval, apim: interval, frontDoor: interval },
    ...over,
  };
}

/** A preflight policy with `PREFLIGHT_MIN_VALIDITY_DAYS`'s default (and the fixed key rules). */
export function aPreflightPolicy(over: Partial<PreflightInput["policy"]> = {}): PreflightInput["policy"] {
  return { minimumRemainingDays: settingDefault("PREFLIGHT_MIN_VALIDITY_DAYS"), ...over };
}

/**
 * Drift options with the settings' defaults, `DRIFT_MODE` and `PREFLIGHT_MIN_VALIDITY_DAYS`. The scan
 * may not renew unless the case says so: renewing also needs an issuer that renews by itself.
 */
export function aDriftOptions(over: Partial<DriftOptions> = {}): DriftOptions {
  return {
    mode: settingDefault("DRIFT_MODE"),
    minRemainingValidityDays: settingDefault("PREFLIGHT_MIN_VALIDITY_DAYS"),
    renew: false,
    ...over,
  };
}
