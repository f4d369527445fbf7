/**
 * Orchestration `driftCertificate`: the drift judgement of one certificate.
 *
 * 1. Observe every binding in parallel: the version its resource is configured with and the
 *    certificate its endpoints serve (real handshakes).
 * 2. Read the vault's current version.
 * 3. Judge each binding (pure) and decide the repair.
 * 4. In repair mode, start a rollout of the current version to the drifted bindings — or, when
 *    the current version expires within PREFLIGHT_MIN_VALIDITY_DAYS (ExpiringSoon) and renewing is
 *    allowed, a renewing rollout (renew in Key Vault, then every binding) — unless a rollout of the
 *    certificate is running.
 */
import * as df from "durable-functions";
import type { OrchestrationContext } from "durable-functions";
import type { ObserveBindingOutput } from "../activities/contracts.js";
import { observeBinding } from "../activities/observeBinding.js";
import { readCertificate } from "../activities/readCertificate.js";
import { startRotation, type StartRotationOutput } from "../activities/startRotation.js";
import {
  bindingId,
  describeBinding,
  stageOf,
  type Binding,
  type CertificateRef,
  type Stage,
} from "../domain/bindings.js";
import { decideDriftRepair, type DriftVerdict, type VaultCurrent } from "../domain/drift.js";
import type { Reasoned } from "../domain/rollback.js";
import { errorSentence } from "./applyTarget.js";
import type { RolloutPolicy, RotationRequest } from "./policy.js";
import { call, retryOptions, type Flow } from "./tasks.js";

/** Input of `driftCertificate`. */
export interface DriftCertificateInput {
  scanId: string;
  certificate: CertificateRef;
  bindings: Binding[];
  mode: "repair" | "report";
  policy: RolloutPolicy;
}

/** One certificate in the scan's output (and the inventory). */
export interface DriftCertificateOutput {
  certificate: CertificateRef;
  vault?: VaultCurrent & { expiresOn?: string };
  bindings: {
    bindingId: string;
    stage: Stage;
    description: string;
    observation?: ObserveBindingOutput;
    verdict?: DriftVerdict;
  }[];
  repair?: {
    version: string;
    targets: string[];
    reason: string;
    message: string;
    start?: StartRotationOutput;
  };
  failure?: Reasoned;
}

function* driftCertificateOrchestrator(context: OrchestrationContext): Flow<DriftCertificateOutput> {
  const input = context.df.getInput<DriftCertificateInput>();
  const { certificate, policy } = input;
  const out: DriftCertificateOutput = {
    certificate,
    bindings: input.bindings.map((b) => ({
      bindingId: bindingId(b),
      stage: stageOf(b),
      description: describeBinding(b),
    })),
  };
  try {
    // 1. + 2. Observe every binding and read the vault, all at once.
    const retry = retryOptions(policy);
    const observed = (yield context.df.Task.all(
      input.bindings.map((binding) => observeBinding({ binding }).withRetry(retry)),
    )) as ObserveBindingOutput[];
    observed.forEach((o, i) => {
      const entry = out.bindings[i];
      if (entry) entry.observation = o;
    });
    const current = yield* call(
      readCertificate,
      { vaultName: certificate.vaultName, certificateName: certificate.certificateName },
      policy,
    );
    if (!current.found) {
      out.failure = { reason: current.reason, message: current.message };
      return out;
    }
    const vault: VaultCurrent = {
      version: current.version,
      thumbprint: current.thumbprint,
      ...(current.expiresOn ? { notAfter: current.expiresOn } : {}),
      previous: current.previousVersions,
    };
    out.vault = { ...vault, ...(current.expiresOn ? { expiresOn: current.expiresOn } : {}) };

    // 3. Judge.
    const decision = decideDriftRepair(observed, vault, context.df.currentUtcDateTime, {
      mode: input.mode,
      minRemainingValidityDays: policy.minRemainingValidityDays,
      renew: policy.renewOnNearExpiry && current.issuerKind !== "Unknown",
    });
    decision.verdicts.forEach((v) => {
      const entry = out.bindings.find((b) => b.bindingId === v.bindingId);
      if (entry) entry.verdict = v;
    });
    const repair = decision.renewal ?? decision.rollout;
    if (!repair) return out;
    out.repair = { ...repair };

    // 4. Repair: renew an expiring version and roll the new one out everywhere, or roll the current
    // version out to the drifted bindings.
    const request: RotationRequest = decision.renewal
      ? { kind: "manual", dryRun: false, renew: true }
      : {
          kind: "drift",
          scanId: input.scanId,
          version: repair.version,
          targets: repair.targets,
          reason: repair.reason,
        };
    out.repair.start = yield* call(
      startRotation,
      {
        certificate,
        request,
        trigger: {
          kind: "drift",
          detail: `drift scan ${input.scanId}: ${repair.message}`,
          requestId: input.scanId,
        },
        policy,
      },
      policy,
    );
    if (!context.df.isReplaying)
      context.log(
        `${input.scanId}: ${certificate.vaultName}/${certificate.certificateName}: ${repair.message} ${decision.renewal ? "Renewal" : "Repair"} ${out.repair.start.status}.`,
      );
    return out;
  } catch (error) {
    out.failure = {
      reason: "ScanFailed",
      message: errorSentence(error, `Scanning ${certificate.vaultName}/${certificate.certificateName}`),
    };
    return out;
  }
}

/** The registered orchestration; the drift scan yields one per certificate. */
export const driftCertificate = df.app.orchestration("driftCertificate", driftCertificateOrchestrator);
