/**
 * Orchestration `rotateCertificate`: one rollout of one certificate (instance id
 * `rotationInstanceId(certificate)`, so at most one per certificate runs), following the algorithm
 * of ARCHITECTURE.md §2:
 *
 * 1. Resolve the bindings (and the subset a manual or drift rollout names).
 * 2. Get the new version: renew in Key Vault when the issuer allows it and wait for it; wait for an
 *    external issuer's version up to a deadline; or take the version the event or request names.
 * 3. Preflight: nothing is touched when it fails (Rejected); nothing to do when every binding has it.
 * 4. Plan the stages (a dry run stops here, with the plan in the report).
 * 5. Each stage as a `rolloutStage` sub-orchestration, inner to outer; a "cancel" event is honoured
 *    between stages (and while a stage waits for its probes).
 * 6. On a failure or a cancel: `rollbackRotation`, in reverse order, verified by probes.
 * 7. Record the audit entry, publish the outcome event, clean up after a success.
 *
 * Custom status: the live report (references and thumbprints only). Output: the final report.
 */
import * as df from "durable-functions";
import type { OrchestrationContext, Task } from "durable-functions";
import { cleanupTarget } from "../activities/cleanupTarget.js";
import type { PreflightCertificateOutput, ReadCertificateOutput } from "../activities/contracts.js";
import { preflightCertificate } from "../activities/preflightCertificate.js";
import { publishOutcome } from "../activities/publishOutcome.js";
import { readCertificate } from "../activities/readCertificate.js";
import { readDeployed } from "../activities/readDeployed.js";
import { readRenewal } from "../activities/readRenewal.js";
import { recordAudit } from "../activities/recordAudit.js";
import { resolveBindings } from "../activities/resolveBindings.js";
import { startRenewal } from "../activities/startRenewal.js";
import { bindingId, selectTargets, type Binding } from "../domain/bindings.js";
import { rollbackInstanceId, stageInstanceId } from "../domain/instanceIds.js";
import { buildPlan, type Plan } from "../domain/plan.js";
import { assembleReport, type RolloutReport } from "../domain/report.js";
import {
  finalState,
  planRollback,
  type FinalOutcome,
  type OutcomeInput,
  type RollbackResult,
  type StageResult,
} from "../domain/rollback.js";
import { errorSentence } from "./applyTarget.js";
import type { RotationInput } from "./policy.js";
import { rollbackRotation, type RollbackRotationInput } from "./rollbackRotation.js";
import { rolloutStage, type RolloutStageInput } from "./rolloutStage.js";
import { after, call, sleep, sleepUnlessCancelled, type Flow } from "./tasks.js";

/** How often binding discovery is read when a scope could not be read. */
const DISCOVERY_ATTEMPTS = 4;

/** Output of `rotateCertificate`: the final report. */
export type RotateCertificateOutput = RolloutReport;

/** What the rollout has learnt so far; the report is assembled from it at every step. */
interface Progress {
  version?: string;
  plan?: Plan;
  preflight?: PreflightCertificateOutput;
  stages: StageResult[];
  rollback?: RollbackResult;
  outcome?: FinalOutcome;
  finishedAt?: string;
}

type NewVersion =
  | { status: "ready"; certificate: Extract<ReadCertificateOutput, { found: true }> }
  | {
      status: "notIssued" | "failed" | "cancelled";
      message: string;
    };

function* rotateCertificateOrchestrator(context: OrchestrationContext): Flow<RotateCertificateOutput> {
  const input = context.df.getInput<RotationInput>();
  const { certificate: ref, policy, request } = input;
  const rotationId = context.df.instanceId;
  const startedAt = context.df.currentUtcDateTime.toISOString();
  // Unique per run (the instance id is reused by every rollout of the certificate): what target
  // writes record, so a later run never mistakes an earlier run's write for its own retry.
  const runId = `${rotationId}@${startedAt}`;
  const cancel: Task = context.df.waitForExternalEvent("cancel");
  const progress: Progress = { stages: [] };
  const report = (): RolloutReport => liveReport(input, rotationId, startedAt, progress);
  const publish = () => context.df.setCustomStatus(report());
  const log = (message: string) => {
    if (!context.df.isReplaying) context.log(`${rotationId}: ${message}`);
  };
  publish();

  const outcome: OutcomeInput = { dryRun: request.kind === "manual" && request.dryRun };
  try {
    // 1. Resolve the bindings, and the subset a manual or drift rollout names.
    // A scope that could not be read (throttled, 5xx) hides bindings: read again a few times before
    // trusting a partial answer, and never take "nothing found" from a partial answer.
    let resolved = yield* call(resolveBindings, { certificate: ref }, policy);
    for (let attempt = 1; resolved.warnings.length > 0 && attempt < DISCOVERY_ATTEMPTS; attempt++) {
      for (const w of resolved.warnings) log(`binding discovery warning ${w.reason}: ${w.message}`);
      yield* sleep(context, policy.retryFirstIntervalSeconds * 2 ** (attempt - 1));
      resolved = yield* call(resolveBindings, { certificate: ref }, policy);
    }
    if (resolved.warnings.length > 0 && resolved.bindings.length === 0) {
      outcome.planError = {
        reason: "DiscoveryIncomplete",
        message: `No binding of ${ref.vaultName}/${ref.certificateName} was found, but discovery was incomplete: ${resolved.warnings.map((w) => w.message).join(" ")}`,
      };
      return yield* finish(context, input, progress, outcome, report, publish);
    }
    const selectors = request.kind === "event" ? undefined : request.targets;
    const selection = selectTargets(resolved.bindings, selectors);
    if (selection.unmatched.length > 0) {
      outcome.planError = {
        reason: "UnknownTargets",
        message: `No binding of ${ref.vaultName}/${ref.certificateName} matches ${selection.unmatched.join(", ")}.`,
      };
      return yield* finish(context, input, progress, outcome, report, publish);
    }
    const bindings = selection.selected;

    // 2. The new version.
    const newVersion = yield* getNewVersion(context, input, cancel, progress, publish, log, runId);
    if (newVersion.status === "cancelled") {
      outcome.cancelled = true;
      return yield* finish(context, input, progress, outcome, report, publish);
    }
    if (newVersion.status !== "ready") {
      outcome.newVersion = { status: newVersion.status, message: newVersion.message };
      return yield* finish(context, input, progress, outcome, report, publish);
    }
    outcome.newVersion = { status: "ready" };
    const version = newVersion.certificate;
    progress.version = version.version;
    publish();

    // 3. Preflight: validity, names, key, chain, already deployed. Nothing is touched if it fails.
    const deployed = yield* call(readDeployed, { bindings }, policy);
    const preflight = yield* call(
      preflightCertificate,
      {
        vaultName: ref.vaultName,
        certificateName: ref.certificateName,
        version: version.version,
        bindings,
        deployed: deployed.deployed,
        policy: { minimumRemainingDays: policy.minRemainingValidityDays },
      },
      policy,
    );
    // A drift repair writes the drifted bindings even when their configuration already names the
    // version: what they serve is what drifted.
    const repair = request.kind === "drift" && preflight.verdict === "AlreadyDeployed";
    const checked: PreflightCertificateOutput = repair
      ? { ...preflight, verdict: "Proceed", notices: [], alreadyDeployed: [] }
      : preflight;
    progress.preflight = checked;
    outcome.preflight = checked;
    publish();
    if (checked.verdict !== "Proceed")
      return yield* finish(context, input, progress, outcome, report, publish);

    // 4. Plan the stages (bindings that already have the version are skipped).
    const toChange: Binding[] = bindings.filter((b) => !checked.alreadyDeployed.includes(bindingId(b)));
    const built = buildPlan({
      certificate: {
        vaultName: ref.vaultName,
        vaultUrl: version.vaultUrl,
        certificateName: ref.certificateName,
        version: version.version,
        ...(version.vaultResourceId ? { vaultResourceId: version.vaultResourceId } : {}),
        thumbprint: checked.thumbprint,
      },
      bindings: toChange,
      policy: {
        order: policy.stageOrder,
        probeDeadlineSeconds: policy.probeDeadlineSeconds,
        probeIntervalSeconds: {
          kubernetes: policy.probeIntervalSeconds,
          apim: policy.probeIntervalSeconds,
          frontDoor: policy.probeIntervalSeconds,
        },
      },
      dryRun: outcome.dryRun ?? false,
    });
    if (!built.ok) {
      outcome.planError = { reason: built.reason, message: built.message };
      return yield* finish(context, input, progress, outcome, report, publish);
    }
    const plan = built.plan;
    progress.plan = plan;
    publish();
    if (plan.dryRun) return yield* finish(context, input, progress, outcome, report, publish);

    // 5. Each stage, inner to outer; stop at the first that fails or a cancel.
    const outermost = plan.stages[plan.stages.length - 1]?.index;
    for (const stage of plan.stages) {
      if (yield* sleepUnlessCancelled(context, 0, cancel)) {
        outcome.cancelled = true;
        break;
      }
      log(`stage ${stage.index} (${stage.stage}): ${stage.steps.length} target(s).`);
      const stageInput: RolloutStageInput = {
        rotationId,
        runId,
        plan,
        stageIndex: stage.index,
        policy,
        endToEnd: stage.index === outermost,
        trigger: input.trigger,
      };
      let result: StageResult;
      try {
        result = (yield rolloutStage(
          stageInput,
          stageInstanceId(rotationId, version.version, stage.index, stage.stage),
        )) as StageResult;
      } catch (error) {
        result = {
          index: stage.index,
          stage: stage.stage,
          status: "failed",
          steps: stage.steps.map((s) => ({ stepId: s.stepId, write: "unknown" })),
          failure: {
            reason: "StageOrchestrationFailed",
            message: errorSentence(error, `Stage ${stage.index}`),
          },
        };
      }
      progress.stages.push(result);
      publish();
      if (result.status === "cancelled") outcome.cancelled = true;
      if (result.status !== "succeeded") break;
    }
    outcome.stages = progress.stages;

    // 6. On failure or cancel: roll back what was applied, in reverse order, verified by probes.
    if (outcome.cancelled || progress.stages.some((s) => s.status !== "succeeded")) {
      const rollback = planRollback(plan, progress.stages);
      if (rollback.stages.length === 0) {
        progress.rollback = { actions: [], unrestorable: rollback.unrestorable };
      } else {
        log(`rolling back ${rollback.stages.length} stage(s).`);
        const rollbackInput: RollbackRotationInput = {
          rotationId: runId,
          rollback,
          policy,
          deadlineSeconds: policy.probeDeadlineSeconds,
        };
        try {
          progress.rollback = (yield rollbackRotation(
            rollbackInput,
            rollbackInstanceId(rotationId, version.version),
          )) as RollbackResult;
        } catch (error) {
          progress.rollback = {
            actions: rollback.stages.flatMap((s) =>
              s.actions.map((a) => ({
                stepId: a.stepId,
                verified: false,
                failure: { reason: "RollbackFailed", message: errorSentence(error, "The rollback") },
              })),
            ),
            unrestorable: rollback.unrestorable,
          };
        }
      }
      outcome.rollback = progress.rollback;
    }
    return yield* finish(context, input, progress, outcome, report, publish);
  } catch (error) {
    // An activity outside the stages kept failing (Key Vault or discovery unreachable).
    outcome.planError = { reason: "ActivityFailed", message: errorSentence(error, "The rollout") };
    if (progress.stages.length) outcome.stages = progress.stages;
    return yield* finish(context, input, progress, outcome, report, publish);
  }
}

/**
 * Step 2: the version to roll out. Renews when the issuer allows it (near expiry, expired, or a
 * manual renew), waits for an external issuer's new version, or takes the named version.
 */
function* getNewVersion(
  context: OrchestrationContext,
  input: RotationInput,
  cancel: Task,
  progress: Progress,
  publish: () => void,
  log: (message: string) => void,
  runId: string,
): Flow<NewVersion> {
  const { certificate: ref, policy, request } = input;
  const read = (version?: string) =>
    call(
      readCertificate,
      { vaultName: ref.vaultName, certificateName: ref.certificateName, ...(version ? { version } : {}) },
      policy,
    );
  const ready = (c: ReadCertificateOutput, what: string): NewVersion =>
    c.found ? { status: "ready", certificate: c } : { status: "failed", message: `${what}: ${c.message}` };

  // A named version: the event's new version, the request's, or the drift repair's.
  const named =
    request.kind === "event" && request.event.kind === "CertificateNewVersionCreated"
      ? request.event.version
      : request.kind === "manual"
        ? request.version
        : request.kind === "drift"
          ? request.version
          : undefined;
  if (named) return ready(yield* read(named), `Version ${named} of ${ref.vaultName}/${ref.certificateName}`);

  const current = yield* read();
  if (!current.found) return { status: "failed", message: current.message };
  const wantsRenewal =
    (request.kind === "manual" && request.renew) || (request.kind === "event" && policy.renewOnNearExpiry);
  const expiring = request.kind === "event" ? request.event.version : undefined;
  // A manual rollout without a version or renewal: the vault's current version.
  if (request.kind === "manual" && !request.renew) return ready(current, "The current version");
  // Someone already made a newer version than the one expiring: roll that out.
  if (expiring && current.version.toLowerCase() !== expiring.toLowerCase())
    return ready(current, "The current version");

  const deadline = after(context, policy.renewalDeadlineSeconds).getTime();
  if (wantsRenewal && current.issuerKind !== "Unknown") {
    // Renew with the existing policy; the new version is tagged with this rotation's id.
    for (;;) {
      const started = yield* call(
        startRenewal,
        { vaultName: ref.vaultName, certificateName: ref.certificateName, rotationId: runId },
        policy,
      );
      if (started.status === "notRenewable")
        return { status: "failed", message: `${started.reason}: ${started.message}` };
      if (started.status !== "busy") break;
      if (context.df.currentUtcDateTime.getTime() >= deadline)
        return { status: "failed", message: `Key Vault stayed busy: ${started.message}` };
      if (yield* sleepUnlessCancelled(context, Math.max(1, started.retryAfterSeconds), cancel))
        return { status: "cancelled", message: "Cancelled while renewing." };
    }
    log("renewal started; waiting for the new version.");
    for (;;) {
      const renewal = yield* call(
        readRenewal,
        { vaultName: ref.vaultName, certificateName: ref.certificateName },
        policy,
      );
      // A completed operation that names the version we started from is the previous renewal's.
      const stale =
        (renewal.status === "completed" || renewal.status === "none") &&
        renewal.version?.toLowerCase() === current.version.toLowerCase();
      if (!stale && (renewal.status === "completed" || (renewal.status === "none" && renewal.version))) {
        const version = renewal.version as string;
        progress.version = version;
        publish();
        return ready(yield* read(version), `The renewed version ${version}`);
      }
      if (renewal.status === "failed" || renewal.status === "cancelled")
        return {
          status: "failed",
          message: `The renewal ${renewal.status}: ${renewal.reason}: ${renewal.message}`,
        };
      if (renewal.status === "none" && !stale)
        return { status: "failed", message: "Key Vault has no pending renewal and reported no new version." };
      if (context.df.currentUtcDateTime.getTime() >= deadline)
        return {
          status: "notIssued",
          message: `The renewal of ${ref.vaultName}/${ref.certificateName} did not complete within ${Math.round(policy.renewalDeadlineSeconds)} s.`,
        };
      if (yield* sleepUnlessCancelled(context, policy.renewalPollSeconds, cancel))
        return { status: "cancelled", message: "Cancelled while waiting for the renewal." };
    }
  }

  // An external issuer (or renewal turned off): wait for someone to create a new version.
  log(`waiting for a new version of ${ref.vaultName}/${ref.certificateName} (issuer ${current.issuerName}).`);
  for (;;) {
    if (context.df.currentUtcDateTime.getTime() >= deadline)
      return {
        status: "notIssued",
        message: `No new version of ${ref.vaultName}/${ref.certificateName} appeared within ${Math.round(policy.renewalDeadlineSeconds)} s (issuer ${current.issuerName} is not one Key Vault renews by itself); version ${current.version} still expires at ${current.expiresOn ?? "an unknown time"}.`,
      };
    if (yield* sleepUnlessCancelled(context, policy.renewalPollSeconds, cancel))
      return { status: "cancelled", message: "Cancelled while waiting for a new version." };
    const now = yield* read();
    if (now.found && now.version.toLowerCase() !== current.version.toLowerCase())
      return ready(now, "The new version");
  }
}

/** Step 7: decide, record, tell, clean up; returns the final report. */
function* finish(
  context: OrchestrationContext,
  input: RotationInput,
  progress: Progress,
  outcome: OutcomeInput,
  report: () => RolloutReport,
  publish: () => void,
): Flow<RolloutReport> {
  const { policy } = input;
  progress.outcome = finalState(outcome);
  progress.finishedAt = context.df.currentUtcDateTime.toISOString();
  publish();
  const final = report();
  const warn = (what: string, error: unknown) => {
    if (!context.df.isReplaying) context.warn(`${context.df.instanceId}: ${errorSentence(error, what)}`);
  };
  try {
    yield* call(recordAudit, { report: final }, policy);
  } catch (error) {
    warn("Recording the audit entry", error);
  }
  try {
    yield* call(publishOutcome, { report: final }, policy);
  } catch (error) {
    warn("Publishing the outcome event", error);
  }
  if (progress.outcome.state === "Succeeded" && progress.plan && !progress.plan.dryRun) {
    const cleanups = progress.stages.flatMap((s) =>
      s.steps.flatMap((r) => {
        const step = progress.plan?.stages.flatMap((p) => p.steps).find((p) => p.stepId === r.stepId);
        return step && r.snapshot && step.kind !== "apimService" && r.snapshot.kind !== "apimService"
          ? [cleanupTarget({ snapshot: r.snapshot, step })]
          : [];
      }),
    );
    if (cleanups.length) {
      try {
        yield context.df.Task.all(cleanups);
      } catch (error) {
        warn("Cleaning up", error);
      }
    }
  }
  if (!context.df.isReplaying)
    context.log(
      `${context.df.instanceId}: ${progress.outcome.state} (${progress.outcome.reason}) ${progress.outcome.message}`,
    );
  return final;
}

/** The report as it stands; the version being rolled out shows as soon as it is known. */
function liveReport(input: RotationInput, rotationId: string, startedAt: string, p: Progress): RolloutReport {
  const r = assembleReport({
    instanceId: rotationId,
    certificate: input.certificate,
    trigger: input.trigger,
    startedAt,
    ...(p.finishedAt ? { finishedAt: p.finishedAt } : {}),
    ...(p.plan ? { plan: p.plan } : {}),
    ...(p.preflight
      ? {
          preflight: {
            verdict: p.preflight.verdict,
            failures: p.preflight.failures,
            notices: p.preflight.notices,
          },
        }
      : {}),
    stageResults: p.stages,
    ...(p.rollback ? { rollback: p.rollback } : {}),
    ...(p.outcome ? { outcome: p.outcome } : {}),
  });
  if (!r.versions.next && p.version) {
    r.versions.next = {
      version: p.version,
      ...(p.preflight?.thumbprint ? { thumbprint: p.preflight.thumbprint } : {}),
    };
  }
  if (input.request.kind === "manual" && input.request.dryRun) r.dryRun = true;
  return r;
}

/** The registered orchestration; triggers start `rotateCertificate` with `rotationInstanceId(…)`. */
export const rotateCertificate = df.app.orchestration("rotateCertificate", rotateCertificateOrchestrator);
