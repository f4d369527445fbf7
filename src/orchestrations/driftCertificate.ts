/**
 * Orchestration `driftCertificate`: the drift judgement of one certificate.
 *
 * 1. Observe every binding in parallel: the version its resource is configured with and the
 *    certificate its endpoints serve (real handshakes).
 * 2. Read the vault's current version.
 * 3. Judge each binding (pure) and decide the repair.
 *    A held version (its last rollout failed) is not rolled out again: its drifted bindings are
 *    reported as held and an outcome event tells a person.
 * 4. In repair mode, start a rollout of the current version to the drifted bindings — or, when
 *    the current version expires within PREFLIGHT_MIN_VALIDITY_DAYS (ExpiringSoon) and renewing is
 *    allowed, a renewing rollout (renew in Key Vault, then every binding) — unless a rollout of the
 *    certificate is running.
 */
import * as df from "durable-functions";
import type { OrchestrationContext } from "durable-functions";
import type { ObserveBindingOutput, ReadCertificateOutput } from "../activities/contracts.js";
import { observeBinding } from "../activities/observeBinding.js";
import { publishHeld } from "../activities/publishHeld.js";
import type { PublishOutcomeOutput } from "../activities/publishOutcome.js";
import { readHold } from "../activities/readHold.js";
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
import {
  decideDriftRepair,
  type DriftDecision,
  type DriftVerdict,
  type VaultCurrent,
} from "../domain/drift.js";
import { heldSentence, type HeldVersion } from "../domain/heldVersion.js";
import { scanFailed } from "../domain/reasons.js";
import type { Reasoned } from "../domain/rollback.js";
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
  /** Drifted bindings left alone because the vault's current version is held; `event` told a person. */
  held?: NonNullable<DriftDecision["held"]> & {
    state: HeldVersion["state"];
    runId: string;
    event?: PublishOutcomeOutput;
  };
  failure?: Reasoned;
}

/** What the steps of one certificate's judgement share. */
interface DriftRun {
  context: OrchestrationContext;
  input: DriftCertificateInput;
  /** The output so far: each step records what it learnt. */
  out: DriftCertificateOutput;
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
  const run: DriftRun = { context, input, out };
  try {
    // 1. Observe every binding, all at once.
    const observed = yield* observeBindings(run);
    // 2. The vault's current version.
    const current = yield* call(
      readCertificate,
      { vaultName: certificate.vaultName, certificateName: certificate.certificateName },
      policy,
    );
    if (!current.found) {
      out.failure = { reason: current.reason, message: current.message };
      return out;
    }
    // 3. Judge; a held version is reported and told, never rolled out again.
    const { held } = yield* call(readHold, { certificate }, policy);
    const decision = judge(run, observed, current, held);
    if (decision.held && held) yield* tellHeld(run, decision.held, held);
    const repair = decision.renewal ?? decision.rollout;
    if (!repair) return out;
    out.repair = { ...repair };
    // 4. Repair: renew an expiring version and roll the new one out everywhere, or roll the current
    // version out to the drifted bindings.
    out.repair.start = yield* startRepair(run, repair, decision.renewal !== undefined);
    if (!context.df.isReplaying)
      context.log(
        `${input.scanId}: ${certificate.vaultName}/${certificate.certificateName}: ${repair.message} ${decision.renewal ? "Renewal" : "Repair"} ${out.repair.start.status}.`,
      );
    return out;
  } catch (error) {
    out.failure = scanFailed(error, `Scanning ${certificate.vaultName}/${certificate.certificateName}`);
    return out;
  }
}

/** Step 1: every binding observed in parallel (configured version, served certificate); recorded in `out`. */
function* observeBindings({ context, input, out }: DriftRun): Flow<ObserveBindingOutput[]> {
  const retry = retryOptions(input.policy);
  const observed = (yield context.df.Task.all(
    input.bindings.map((binding) => observeBinding({ binding }).withRetry(retry)),
  )) as ObserveBindingOutput[];
  observed.forEach((o, i) => {
    const entry = out.bindings[i];
    if (entry) entry.observation = o;
  });
  return observed;
}

/** Step 3: each binding judged against the vault (pure), verdicts recorded in `out`; answers the repair decision. */
function judge(
  { context, input, out }: DriftRun,
  observed: ObserveBindingOutput[],
  current: Extract<ReadCertificateOutput, { found: true }>,
  held: HeldVersion | undefined,
): DriftDecision {
  const { policy } = input;
  const vault: VaultCurrent = {
    version: current.version,
    thumbprint: current.thumbprint,
    ...(current.expiresOn ? { notAfter: current.expiresOn } : {}),
    previous: current.previousVersions,
  };
  out.vault = { ...vault, ...(current.expiresOn ? { expiresOn: current.expiresOn } : {}) };
  const decision = decideDriftRepair(observed, vault, context.df.currentUtcDateTime, {
    mode: input.mode,
    minRemainingValidityDays: policy.minRemainingValidityDays,
    renew: policy.renewOnNearExpiry && current.issuerKind !== "Unknown",
    ...(held ? { held: { version: held.version, message: heldSentence(input.certificate, held) } } : {}),
  });
  decision.verdicts.forEach((v) => {
    const entry = out.bindings.find((b) => b.bindingId === v.bindingId);
    if (entry) entry.verdict = v;
  });
  return decision;
}

/** Step 3, held: records the bindings left alone in `out` and publishes an outcome event about them. */
function* tellHeld(
  { context, input, out }: DriftRun,
  decision: NonNullable<DriftDecision["held"]>,
  held: HeldVersion,
): Flow<void> {
  out.held = { ...decision, state: held.state, runId: held.runId };
  try {
    out.held.event = yield* call(
      publishHeld,
      {
        scanId: input.scanId,
        certificate: input.certificate,
        held,
        targets: decision.targets,
        message: decision.message,
      },
      input.policy,
    );
  } catch (error) {
    out.held.event = {
      published: false,
      eventId: "",
      type: "",
      failure: scanFailed(error, "Publishing the held-version event"),
    };
  }
  if (!context.df.isReplaying) context.log(`${input.scanId}: ${decision.message}`);
}

/** Step 4: starts the repair rollout (or a renewing rollout) unless one of the certificate runs. */
function* startRepair(
  { input }: DriftRun,
  repair: NonNullable<DriftDecision["rollout"]>,
  renew: boolean,
): Flow<StartRotationOutput> {
  const { certificate, policy } = input;
  const request: RotationRequest = renew
    ? { kind: "manual", dryRun: false, renew: true }
    : {
        kind: "drift",
        scanId: input.scanId,
        version: repair.version,
        targets: repair.targets,
        reason: repair.reason,
      };
  return yield* call(
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
}

/** The registered orchestration; the drift scan yields one per certificate. */
export const driftCertificate = df.app.orchestration("driftCertificate", driftCertificateOrchestrator);
