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
 * 5. Each stage as a `rolloutStage` sub-orchestration, inner to outer. A "cancel" event is honoured
 *    at any point: it is passed on to the running stage (which passes it to its targets and probe
 *    wait) or renewal wait; a cancel heard after the last stage succeeded is reported as too late.
 * 6. On a failure or a cancel: `rollbackRotation`, in reverse order, verified by probes.
 * 7. Record the audit entry, publish the outcome event, clean up after a success.
 *
 * Every long wait (renewal, an external issuer, provisioning, probes) is a `pollUntil`
 * sub-orchestration that continues as new every few rounds, so no history grows without bound.
 *
 * Custom status: the live report bounded to a few targets with counts of all (Durable caps a custom
 * status at 16 KB); the whole report is upserted as the audit record after the plan and after every
 * stage, and is the output at the end.
 */
import * as df from "durable-functions";
import type { OrchestrationContext, Task } from "durable-functions";
import { cleanupTarget } from "../activities/cleanupTarget.js";
import type { PreflightCertificateOutput, ReadCertificateOutput } from "../activities/contracts.js";
import { preflightCertificate } from "../activities/preflightCertificate.js";
import { publishOutcome } from "../activities/publishOutcome.js";
import { readCertificate } from "../activities/readCertificate.js";
import { readDeployed } from "../activities/readDeployed.js";
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
import { waitSettings } from "./policy.js";
import { pollInstanceId, waitFor } from "./pollUntil.js";
import { rolloutStatusView } from "./status.js";
import { backoffSeconds } from "./backoff.js";
import { after, awaitChildren, call, cancelRequested, sleep, untilNotBusy, type Flow } from "./tasks.js";

/** How often binding discovery is read when a scope could not be read. */
const DISCOVERY_ATTEMPTS = 4;

/** A cancel heard after the last stage had succeeded. */
const TOO_LATE = "Cancel arrived too late: already Succeeded (every stage had been verified).";

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
  const publish = () => context.df.setCustomStatus(rolloutStatusView(report()));
  // Sub-orchestration ids of this run's waits (the instance id is reused by every run).
  const runToken = startedAt.replace(/[^0-9]/g, "");
  let waits = 0;
  const nextWaitId = () => pollInstanceId(`${rotationId}:${runToken}`, ++waits);
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
      yield* sleep(
        context,
        backoffSeconds(
          attempt - 1,
          {
            firstSeconds: policy.retryFirstIntervalSeconds,
            capSeconds: waitSettings(policy).pollMaxIntervalSeconds,
          },
          `${runId}|discovery`,
        ),
      );
      resolved = yield* call(resolveBindings, { certificate: ref }, policy);
    }
    // Still incomplete: a hop may be hidden (rolling out the rest could skip it, and "nothing found"
    // means nothing). Touch nothing; a person looks at the scopes named here.
    if (resolved.warnings.length > 0) {
      const found = resolved.bindings.length;
      outcome.planError = {
        reason: "DiscoveryIncomplete",
        message: `Binding discovery of ${ref.vaultName}/${ref.certificateName} stayed incomplete after ${DISCOVERY_ATTEMPTS} reads (${found} binding(s) found, others may be hidden); nothing was changed. ${resolved.warnings.map((w) => `${w.reason}: ${w.message}`).join(" ")}`,
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
    const newVersion = yield* getNewVersion(
      context,
      input,
      cancel,
      progress,
      publish,
      log,
      runId,
      nextWaitId,
    );
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
    yield* recordProgress(context, report(), policy);

    // 5. Each stage, inner to outer; stop at the first that fails or a cancel.
    const outermost = plan.stages[plan.stages.length - 1]?.index;
    for (const stage of plan.stages) {
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
      const stageId = stageInstanceId(rotationId, version.version, stage.index, stage.stage);
      try {
        // A cancel heard meanwhile is passed on to the stage, which still answers what it applied.
        const ran = yield* awaitChildren<StageResult>(
          context,
          () => rolloutStage(stageInput, stageId),
          [stageId],
          cancel,
          policy,
        );
        if (!ran.started) {
          outcome.cancelled = true;
          break;
        }
        result = ran.value;
        if (ran.cancelled) outcome.cancelled = true;
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
      yield* recordProgress(context, report(), policy);
      if (result.status === "cancelled") outcome.cancelled = true;
      if (result.status !== "succeeded" || outcome.cancelled) break;
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
          ...(plan.certificate.thumbprint ? { newThumbprint: plan.certificate.thumbprint } : {}),
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
    return yield* finish(context, input, progress, outcome, report, publish, cancel);
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
  nextWaitId: () => string,
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

  const deadline = after(context, policy.renewalDeadlineSeconds).toISOString();
  if (wantsRenewal && current.issuerKind !== "Unknown") {
    // Renew with the existing policy; the new version is tagged with this rotation's id.
    const started = yield* untilNotBusy(
      context,
      () =>
        call(
          startRenewal,
          { vaultName: ref.vaultName, certificateName: ref.certificateName, rotationId: runId },
          policy,
        ),
      {
        policy,
        deadlineSeconds: policy.renewalDeadlineSeconds,
        describe: `Renewing ${ref.vaultName}/${ref.certificateName}`,
        cancel,
      },
    );
    if (started.status === "cancelled") return { status: "cancelled", message: "Cancelled while renewing." };
    if (started.status === "notRenewable")
      return { status: "failed", message: `${started.reason}: ${started.message}` };
    if (started.status === "busyTimeout" || started.status === "stopped")
      return { status: "failed", message: `Key Vault stayed busy: ${started.message}` };
    log("renewal started; waiting for the new version.");
    const waited = yield* waitFor(
      context,
      {
        check: {
          kind: "renewal",
          vaultName: ref.vaultName,
          certificateName: ref.certificateName,
          startedFrom: current.version,
        },
        describe: `The renewal of ${ref.vaultName}/${ref.certificateName}`,
        deadline,
        firstIntervalSeconds: policy.renewalPollSeconds,
        policy,
      },
      nextWaitId(),
      cancel,
    );
    const renewal = waited.value;
    if (renewal.status === "cancelled" || (waited.cancelled && renewal.status !== "done"))
      return { status: "cancelled", message: "Cancelled while waiting for the renewal." };
    if (renewal.status === "done") {
      const version = renewal.evidence.version as string;
      progress.version = version;
      publish();
      return ready(yield* read(version), `The renewed version ${version}`);
    }
    if (renewal.status === "timeout")
      return {
        status: "notIssued",
        message: `The renewal of ${ref.vaultName}/${ref.certificateName} did not complete within ${Math.round(policy.renewalDeadlineSeconds)} s.`,
      };
    return { status: "failed", message: renewal.message };
  }

  // An external issuer (or renewal turned off): wait for someone to create a new version.
  log(`waiting for a new version of ${ref.vaultName}/${ref.certificateName} (issuer ${current.issuerName}).`);
  const waited = yield* waitFor(
    context,
    {
      check: {
        kind: "newVersion",
        vaultName: ref.vaultName,
        certificateName: ref.certificateName,
        current: current.version,
      },
      describe: `A new version of ${ref.vaultName}/${ref.certificateName}`,
      deadline,
      firstIntervalSeconds: policy.renewalPollSeconds,
      policy,
    },
    nextWaitId(),
    cancel,
  );
  const appeared = waited.value;
  if (appeared.status === "cancelled" || (waited.cancelled && appeared.status !== "done"))
    return { status: "cancelled", message: "Cancelled while waiting for a new version." };
  if (appeared.status === "done" && appeared.evidence.certificate)
    return { status: "ready", certificate: appeared.evidence.certificate };
  if (appeared.status === "timeout")
    return {
      status: "notIssued",
      message: `No new version of ${ref.vaultName}/${ref.certificateName} appeared within ${Math.round(policy.renewalDeadlineSeconds)} s (issuer ${current.issuerName} is not one Key Vault renews by itself); version ${current.version} still expires at ${current.expiresOn ?? "an unknown time"}.`,
    };
  return {
    status: "failed",
    message: appeared.status === "done" ? "The new version could not be read." : appeared.message,
  };
}

/** Upserts the whole running report as the audit record (the custom status only holds a bounded view). */
function* recordProgress(
  context: OrchestrationContext,
  running: RolloutReport,
  policy: RotationInput["policy"],
): Flow<void> {
  try {
    yield* call(recordAudit, { report: running }, policy);
  } catch (error) {
    if (!context.df.isReplaying)
      context.warn(`${context.df.instanceId}: ${errorSentence(error, "Recording the running report")}`);
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
  cancel?: Task,
): Flow<RolloutReport> {
  const { policy } = input;
  progress.outcome = finalState(outcome);
  // A cancel that came after the last stage was verified changes nothing, but the report says so.
  if (
    progress.outcome.state === "Succeeded" &&
    cancel &&
    !outcome.dryRun &&
    (yield* cancelRequested(context, cancel))
  )
    progress.outcome = { ...progress.outcome, message: `${progress.outcome.message} ${TOO_LATE}` };
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
