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
 * The orchestrator below is that procedure, over one `RotationRun` (input, ids, the cancel task and
 * the report's parts so far); each step is a helper that takes the run (and a named-options object).
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
import type {
  PreflightCertificateOutput,
  ReadCertificateOutput,
  ResolveBindingsOutput,
} from "../activities/contracts.js";
import { preflightCertificate } from "../activities/preflightCertificate.js";
import { publishOutcome } from "../activities/publishOutcome.js";
import { readCertificate } from "../activities/readCertificate.js";
import { readDeployed } from "../activities/readDeployed.js";
import { recordAudit } from "../activities/recordAudit.js";
import { readHold } from "../activities/readHold.js";
import { recordHold } from "../activities/recordHold.js";
import { resolveBindings } from "../activities/resolveBindings.js";
import type { IgnoredBinding } from "../domain/writePolicy.js";
import { startRenewal } from "../activities/startRenewal.js";
import { bindingId, selectTargets, type Binding } from "../domain/bindings.js";
import { rollbackInstanceId, stageInstanceId } from "../domain/instanceIds.js";
import { holding } from "../domain/heldVersion.js";
import { buildPlan, type Plan, type PlanStage } from "../domain/plan.js";
import {
  activityFailed,
  CANCEL_TOO_LATE,
  discoveryIncomplete,
  errorSentence,
  newVersionSentences as sentences,
  rollbackFailed,
  stageOrchestrationFailed,
  unknownTargets,
} from "../domain/reasons.js";
import { assembleReport, type RolloutReport } from "../domain/report.js";
import {
  finalState,
  planRollback,
  type FinalOutcome,
  type OutcomeInput,
  type RollbackResult,
  type StageResult,
} from "../domain/rollback.js";
import type { RotationInput, RotationRequest } from "./policy.js";
import { rollbackRotation, type RollbackRotationInput } from "./rollbackRotation.js";
import { rolloutStage, type RolloutStageInput } from "./rolloutStage.js";
import { waitSettings } from "./policy.js";
import { pollInstanceId, waitFor } from "./pollUntil.js";
import { rolloutStatusView } from "./status.js";
import { backoffSeconds } from "./backoff.js";
import { after, awaitChildren, call, cancelRequested, sleep, untilNotBusy, type Flow } from "./tasks.js";

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
  ignored?: IgnoredBinding[];
}

/** One rollout run: what every step reads, and what the steps have learnt so far. */
interface RotationRun {
  context: OrchestrationContext;
  input: RotationInput;
  /** The instance id: `rotationInstanceId(certificate)`, reused by every rollout of the certificate. */
  rotationId: string;
  /** ISO 8601, orchestration time. */
  startedAt: string;
  /**
   * Unique per run (the instance id is reused by every rollout of the certificate): what target
   * writes record, so a later run never mistakes an earlier run's write for its own retry.
   */
  runId: string;
  /** Sub-orchestration ids of this run's waits (the instance id is reused by every run). */
  waits: { token: string; count: number };
  /** The "cancel" event task: passed on to the running stage or wait. */
  cancel: Task;
  /** The report's parts so far. */
  progress: Progress;
  /** What decides the final state. */
  outcome: OutcomeInput;
}

/** A version that can be rolled out (public data only). */
type Found = Extract<ReadCertificateOutput, { found: true }>;

/** Step 2's answer: a version, or why there is none. */
type NewVersion =
  | { status: "ready"; certificate: Found }
  | {
      status: "notIssued" | "failed" | "cancelled" | "wouldRenew";
      message: string;
    };

function* rotateCertificateOrchestrator(context: OrchestrationContext): Flow<RotateCertificateOutput> {
  const run = startRun(context);
  const { outcome, progress } = run;
  publish(run);
  try {
    // 1. Resolve the bindings, and the subset a manual or drift rollout names.
    const bindings = yield* resolveTargets(run);
    if (!bindings) return yield* finish({ run });

    // 2. The new version: renewed and awaited, an external issuer's, or the one named.
    const version = yield* getNewVersion(run, bindings);
    if (!version) return yield* finish({ run });

    // 3. Preflight: validity, names, key, chain, already deployed. Nothing is touched if it fails.
    const checked = yield* preflight(run, { bindings, version });
    if (checked.verdict !== "Proceed") return yield* finish({ run });

    // 4. Plan the stages (bindings that already have the version are skipped); a dry run stops here.
    const plan = planStages(run, { bindings, version, checked });
    if (!plan || plan.dryRun) return yield* finish({ run });
    yield* recordProgress(run);

    // 5. Each stage, inner to outer; stop at the first that fails or a cancel.
    yield* runStages(run, plan);
    outcome.stages = progress.stages;

    // 6. On failure or cancel: roll back what was applied, in reverse order, verified by probes.
    if (outcome.cancelled || progress.stages.some((s) => s.status !== "succeeded"))
      yield* rollBack(run, plan);

    // 7. Record, tell, clean up; a cancel heard after the last stage was verified is reported too late.
    return yield* finish({ run, reportLateCancel: true });
  } catch (error) {
    // An activity outside the stages kept failing (Key Vault or discovery unreachable).
    outcome.planError = activityFailed(error, "The rollout");
    if (progress.stages.length) outcome.stages = progress.stages;
    return yield* finish({ run });
  }
}

/** The run, from the orchestration's input and clock. */
function startRun(context: OrchestrationContext): RotationRun {
  const input = context.df.getInput<RotationInput>();
  const rotationId = context.df.instanceId;
  const startedAt = context.df.currentUtcDateTime.toISOString();
  return {
    context,
    input,
    rotationId,
    startedAt,
    runId: `${rotationId}@${startedAt}`,
    waits: { token: startedAt.replace(/[^0-9]/g, ""), count: 0 },
    cancel: context.df.waitForExternalEvent("cancel"),
    progress: { stages: [] },
    outcome: { dryRun: input.request.kind === "manual" && input.request.dryRun },
  };
}

/** The report as it stands. */
const report = (run: RotationRun): RolloutReport => liveReport(run);

/** Shows the report's bounded view as the custom status. */
const publish = (run: RotationRun): void => run.context.df.setCustomStatus(rolloutStatusView(report(run)));

/** The instance id of this run's next wait. */
const nextWaitId = (run: RotationRun): string =>
  pollInstanceId(`${run.rotationId}:${run.waits.token}`, ++run.waits.count);

/** Logs a line (once: not while replaying). */
function log(run: RotationRun, message: string): void {
  if (!run.context.df.isReplaying) run.context.log(`${run.rotationId}: ${message}`);
}

/** Warns of a failure that does not change the outcome (once: not while replaying). */
function warn(run: RotationRun, what: string, error: unknown): void {
  const { context } = run;
  if (!context.df.isReplaying) context.warn(`${context.df.instanceId}: ${errorSentence(error, what)}`);
}

/**
 * Step 1: the bindings to roll out to, or undefined (with the outcome's plan error) when discovery
 * stayed incomplete or a named target matches no binding.
 */
function* resolveTargets(run: RotationRun): Flow<Binding[] | undefined> {
  const { certificate, request } = run.input;
  const resolved = yield* discoverBindings(run);
  if (resolved.ignored?.length) run.progress.ignored = resolved.ignored;
  // Still incomplete: a hop may be hidden (rolling out the rest could skip it, and "nothing found"
  // means nothing). Touch nothing; a person looks at the scopes named here.
  if (resolved.warnings.length > 0) {
    run.outcome.planError = discoveryIncomplete({
      certificate,
      attempts: DISCOVERY_ATTEMPTS,
      found: resolved.bindings.length,
      warnings: resolved.warnings,
    });
    return undefined;
  }
  const selection = selectTargets(resolved.bindings, request.kind === "event" ? undefined : request.targets);
  if (selection.unmatched.length > 0) {
    run.outcome.planError = unknownTargets(certificate, selection.unmatched);
    return undefined;
  }
  return selection.selected;
}

/**
 * Binding discovery. A scope that could not be read (throttled, 5xx) hides bindings: read again a
 * few times, with backoff, before trusting a partial answer.
 */
function* discoverBindings(run: RotationRun): Flow<ResolveBindingsOutput> {
  const { certificate, policy } = run.input;
  let resolved = yield* call(resolveBindings, { certificate }, policy);
  for (let attempt = 1; resolved.warnings.length > 0 && attempt < DISCOVERY_ATTEMPTS; attempt++) {
    for (const w of resolved.warnings) log(run, `binding discovery warning ${w.reason}: ${w.message}`);
    const backoff = {
      firstSeconds: policy.retryFirstIntervalSeconds,
      capSeconds: waitSettings(policy).pollMaxIntervalSeconds,
    };
    yield* sleep(run.context, backoffSeconds(attempt - 1, backoff, `${run.runId}|discovery`));
    resolved = yield* call(resolveBindings, { certificate }, policy);
  }
  return resolved;
}

/**
 * Step 2: the version to roll out (recorded in the report), or undefined when there is none (the
 * outcome says why: not issued, failed, or cancelled).
 */
function* getNewVersion(run: RotationRun, bindings: Binding[]): Flow<Found | undefined> {
  const found = yield* findNewVersion(run, bindings);
  if (found.status === "cancelled") {
    run.outcome.cancelled = true;
    return undefined;
  }
  if (found.status !== "ready") {
    run.outcome.newVersion = { status: found.status, message: found.message };
    return undefined;
  }
  run.outcome.newVersion = { status: "ready" };
  run.progress.version = found.certificate.version;
  publish(run);
  return found.certificate;
}

/**
 * Renews when the issuer allows it (near expiry, expired, or a manual renew), waits for an external
 * issuer's new version, or takes the named version.
 */
function* findNewVersion(run: RotationRun, bindings: Binding[]): Flow<NewVersion> {
  const { certificate: ref, policy, request } = run.input;
  // A named version: the event's new version, the request's, or the drift repair's.
  const named = namedVersion(request);
  if (named)
    return ready(
      yield* readVersion(run, named),
      `Version ${named} of ${ref.vaultName}/${ref.certificateName}`,
    );

  const current = yield* readVersion(run);
  if (!current.found) return { status: "failed", message: current.message };
  const wantsRenewal =
    (request.kind === "manual" && request.renew) || (request.kind === "event" && policy.renewOnNearExpiry);
  const expiring = request.kind === "event" ? request.event.version : undefined;
  // A manual rollout without a version or renewal: the vault's current version.
  if (request.kind === "manual" && !request.renew) return ready(current, "The current version");
  // Someone already made a newer version than the one expiring: roll that out — unless it is held
  // (its rollout failed): then the expiring version still needs a new one.
  if (expiring && current.version.toLowerCase() !== expiring.toLowerCase()) {
    const { held } = yield* call(readHold, { certificate: ref }, policy);
    if (!holding(held, current.version)) return ready(current, "The current version");
    log(run, `the current version ${current.version} is held; it needs a new version too.`);
  }

  // A dry run renews nothing and waits for no issuer: it says what a rollout would renew.
  if (wantsRenewal && run.outcome.dryRun)
    return {
      status: "wouldRenew",
      message: sentences.wouldRenew({ certificate: ref, current, targets: bindings.map(bindingId) }),
    };
  const deadline = after(run.context, policy.renewalDeadlineSeconds).toISOString();
  if (wantsRenewal && current.issuerKind !== "Unknown")
    return yield* renewAndWait(run, { current, deadline });
  // An external issuer (or renewal turned off): wait for someone to create a new version.
  return yield* awaitIssuedVersion(run, { current, deadline });
}

/** The version an event, request or drift repair names, if any. */
function namedVersion(request: RotationRequest): string | undefined {
  if (request.kind === "event")
    return request.event.kind === "CertificateNewVersionCreated" ? request.event.version : undefined;
  return request.version;
}

/** Reads a version (the current one without `version`); public data only. */
function readVersion(run: RotationRun, version?: string): Flow<ReadCertificateOutput> {
  const { certificate: ref, policy } = run.input;
  const which = { vaultName: ref.vaultName, certificateName: ref.certificateName };
  return call(readCertificate, { ...which, ...(version ? { version } : {}) }, policy);
}

/** A version read as step 2's answer; `what` names it when it was not found. */
const ready = (c: ReadCertificateOutput, what: string): NewVersion =>
  c.found
    ? { status: "ready", certificate: c }
    : { status: "failed", message: sentences.unreadable(what, c.message) };

/** Renews with the existing policy (the new version is tagged with this run's id), then waits for it. */
function* renewAndWait(run: RotationRun, o: { current: Found; deadline: string }): Flow<NewVersion> {
  const { context, input, cancel } = run;
  const { certificate: ref, policy } = input;
  const which = { vaultName: ref.vaultName, certificateName: ref.certificateName };
  const started = yield* untilNotBusy(
    context,
    () => call(startRenewal, { ...which, rotationId: run.runId }, policy),
    {
      policy,
      deadlineSeconds: policy.renewalDeadlineSeconds,
      describe: `Renewing ${ref.vaultName}/${ref.certificateName}`,
      cancel,
    },
  );
  if (started.status === "cancelled")
    return { status: "cancelled", message: sentences.cancelledWhileRenewing };
  if (started.status === "notRenewable")
    return { status: "failed", message: sentences.notRenewable(started.reason, started.message) };
  if (started.status === "busyTimeout" || started.status === "stopped")
    return { status: "failed", message: sentences.keyVaultBusy(started.message) };
  log(run, "renewal started; waiting for the new version.");
  const check = { kind: "renewal" as const, ...which, startedFrom: o.current.version };
  const waited = yield* waitFor(
    context,
    {
      check,
      describe: `The renewal of ${ref.vaultName}/${ref.certificateName}`,
      deadline: o.deadline,
      firstIntervalSeconds: policy.renewalPollSeconds,
      policy,
    },
    nextWaitId(run),
    cancel,
  );
  const renewal = waited.value;
  if (renewal.status === "cancelled" || (waited.cancelled && renewal.status !== "done"))
    return { status: "cancelled", message: sentences.cancelledAwaitingRenewal };
  if (renewal.status === "done") {
    const version = renewal.evidence.version as string;
    run.progress.version = version;
    publish(run);
    return ready(yield* readVersion(run, version), `The renewed version ${version}`);
  }
  if (renewal.status === "timeout")
    return { status: "notIssued", message: sentences.renewalNotDone(ref, policy.renewalDeadlineSeconds) };
  return { status: "failed", message: renewal.message };
}

/** Waits for an external issuer (or a person) to create a version other than the current one. */
function* awaitIssuedVersion(run: RotationRun, o: { current: Found; deadline: string }): Flow<NewVersion> {
  const { certificate: ref, policy } = run.input;
  const { current } = o;
  log(
    run,
    `waiting for a new version of ${ref.vaultName}/${ref.certificateName} (issuer ${current.issuerName}).`,
  );
  const waited = yield* waitFor(
    run.context,
    {
      check: {
        kind: "newVersion",
        vaultName: ref.vaultName,
        certificateName: ref.certificateName,
        current: current.version,
      },
      describe: `A new version of ${ref.vaultName}/${ref.certificateName}`,
      deadline: o.deadline,
      firstIntervalSeconds: policy.renewalPollSeconds,
      policy,
    },
    nextWaitId(run),
    run.cancel,
  );
  const appeared = waited.value;
  if (appeared.status === "cancelled" || (waited.cancelled && appeared.status !== "done"))
    return { status: "cancelled", message: sentences.cancelledAwaitingNewVersion };
  if (appeared.status === "done" && appeared.evidence.certificate)
    return { status: "ready", certificate: appeared.evidence.certificate };
  if (appeared.status === "timeout") {
    const message = sentences.noneAppeared({
      certificate: ref,
      deadlineSeconds: policy.renewalDeadlineSeconds,
      issuerName: current.issuerName,
      version: current.version,
      expiresOn: current.expiresOn,
    });
    return { status: "notIssued", message };
  }
  return {
    status: "failed",
    message: appeared.status === "done" ? sentences.appearedUnreadable : appeared.message,
  };
}

/**
 * Step 3: preflight of the version against the bindings and what they have deployed, recorded in
 * the report and the outcome. A drift repair writes the drifted bindings even when their
 * configuration already names the version: what they serve is what drifted.
 */
function* preflight(
  run: RotationRun,
  o: { bindings: Binding[]; version: Found },
): Flow<PreflightCertificateOutput> {
  const { certificate: ref, policy, request } = run.input;
  const deployed = yield* call(readDeployed, { bindings: o.bindings }, policy);
  const answer = yield* call(
    preflightCertificate,
    {
      vaultName: ref.vaultName,
      certificateName: ref.certificateName,
      version: o.version.version,
      bindings: o.bindings,
      deployed: deployed.deployed,
      policy: { minimumRemainingDays: policy.minRemainingValidityDays },
    },
    policy,
  );
  const repair = request.kind === "drift" && answer.verdict === "AlreadyDeployed";
  const checked: PreflightCertificateOutput = repair
    ? { ...answer, verdict: "Proceed", notices: [], alreadyDeployed: [] }
    : answer;
  run.progress.preflight = checked;
  run.outcome.preflight = checked;
  publish(run);
  return checked;
}

/** Step 4: the plan of the bindings that do not have the version yet; undefined (a plan error) when it cannot be made. */
function planStages(
  run: RotationRun,
  o: { bindings: Binding[]; version: Found; checked: PreflightCertificateOutput },
): Plan | undefined {
  const { certificate: ref, policy } = run.input;
  const { version, checked } = o;
  const toChange: Binding[] = o.bindings.filter((b) => !checked.alreadyDeployed.includes(bindingId(b)));
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
    dryRun: run.outcome.dryRun ?? false,
  });
  if (!built.ok) {
    run.outcome.planError = { reason: built.reason, message: built.message };
    return undefined;
  }
  run.progress.plan = built.plan;
  publish(run);
  return built.plan;
}

/** Step 5: each stage in order, recorded as it ends; stops after the first that fails or a cancel. */
function* runStages(run: RotationRun, plan: Plan): Flow<void> {
  const outermost = plan.stages[plan.stages.length - 1]?.index;
  for (const stage of plan.stages) {
    log(run, `stage ${stage.index} (${stage.stage}): ${stage.steps.length} target(s).`);
    const result = yield* runStage(run, { plan, stage, endToEnd: stage.index === outermost });
    // A cancel that had already arrived: the stage was not started.
    if (!result) break;
    run.progress.stages.push(result);
    publish(run);
    yield* recordProgress(run);
    if (result.status === "cancelled") run.outcome.cancelled = true;
    if (result.status !== "succeeded" || run.outcome.cancelled) break;
  }
}

/**
 * One stage as a `rolloutStage` sub-orchestration. A cancel heard meanwhile is passed on to it (it
 * still answers what it applied); one heard before it started starts nothing (undefined).
 */
function* runStage(
  run: RotationRun,
  o: { plan: Plan; stage: PlanStage; endToEnd: boolean },
): Flow<StageResult | undefined> {
  const { plan, stage } = o;
  const { policy, trigger } = run.input;
  const stageInput: RolloutStageInput = {
    rotationId: run.rotationId,
    runId: run.runId,
    plan,
    stageIndex: stage.index,
    policy,
    endToEnd: o.endToEnd,
    trigger,
  };
  const stageId = stageInstanceId(run.rotationId, plan.certificate.version, stage.index, stage.stage);
  try {
    const ran = yield* awaitChildren<StageResult>(
      run.context,
      () => rolloutStage(stageInput, stageId),
      [stageId],
      run.cancel,
      policy,
    );
    if (!ran.started) {
      run.outcome.cancelled = true;
      return undefined;
    }
    if (ran.cancelled) run.outcome.cancelled = true;
    return ran.value;
  } catch (error) {
    return {
      index: stage.index,
      stage: stage.stage,
      status: "failed",
      steps: stage.steps.map((s) => ({ stepId: s.stepId, write: "unknown" })),
      failure: stageOrchestrationFailed(stage.index, error),
    };
  }
}

/** Step 6: a `rollbackRotation` of what the stages applied (nothing to run when nothing was applied). */
function* rollBack(run: RotationRun, plan: Plan): Flow<void> {
  const { progress } = run;
  const { policy } = run.input;
  const rollback = planRollback(plan, progress.stages);
  if (rollback.stages.length === 0) {
    progress.rollback = { actions: [], unrestorable: rollback.unrestorable };
  } else {
    log(run, `rolling back ${rollback.stages.length} stage(s).`);
    const rollbackInput: RollbackRotationInput = {
      rotationId: run.runId,
      rollback,
      policy,
      deadlineSeconds: policy.probeDeadlineSeconds,
      ...(plan.certificate.thumbprint ? { newThumbprint: plan.certificate.thumbprint } : {}),
    };
    try {
      const instanceId = rollbackInstanceId(run.rotationId, plan.certificate.version);
      progress.rollback = (yield rollbackRotation(rollbackInput, instanceId)) as RollbackResult;
    } catch (error) {
      // Every target unverified: a person looks.
      const failure = rollbackFailed(error);
      progress.rollback = {
        actions: rollback.stages.flatMap((s) =>
          s.actions.map((a) => ({ stepId: a.stepId, verified: false, failure })),
        ),
        unrestorable: rollback.unrestorable,
      };
    }
  }
  run.outcome.rollback = progress.rollback;
}

/** Upserts the whole running report as the audit record (the custom status only holds a bounded view). */
function* recordProgress(run: RotationRun): Flow<void> {
  try {
    yield* call(recordAudit, { report: report(run) }, run.input.policy);
  } catch (error) {
    warn(run, "Recording the running report", error);
  }
}

/** Options of {@link finish}. */
interface FinishOptions {
  run: RotationRun;
  /** Whether a cancel that arrived after the last stage was verified is to be reported (the end of step 7). */
  reportLateCancel?: boolean;
}

/** Step 7: decide, record, tell, clean up; returns the final report. */
function* finish({ run, reportLateCancel = false }: FinishOptions): Flow<RolloutReport> {
  const { context, progress, outcome } = run;
  const { policy } = run.input;
  progress.outcome = finalState(outcome);
  // A cancel that came after the last stage was verified changes nothing, but the report says so.
  if (
    progress.outcome.state === "Succeeded" &&
    reportLateCancel &&
    !outcome.dryRun &&
    (yield* cancelRequested(context, run.cancel))
  )
    progress.outcome = { ...progress.outcome, message: `${progress.outcome.message} ${CANCEL_TOO_LATE}` };
  progress.finishedAt = context.df.currentUtcDateTime.toISOString();
  publish(run);
  const final = report(run);
  try {
    yield* call(recordAudit, { report: final }, policy);
  } catch (error) {
    warn(run, "Recording the audit entry", error);
  }
  try {
    // A failed version is held (drift and events leave it alone); a verified one is released.
    yield* call(recordHold, { report: final }, policy);
  } catch (error) {
    warn(run, "Recording the held version", error);
  }
  try {
    yield* call(publishOutcome, { report: final }, policy);
  } catch (error) {
    warn(run, "Publishing the outcome event", error);
  }
  if (progress.outcome.state === "Succeeded" && progress.plan && !progress.plan.dryRun) yield* cleanUp(run);
  log(run, `${progress.outcome.state} (${progress.outcome.reason}) ${progress.outcome.message}`);
  return final;
}

/** After a success: what the writes left behind (Kubernetes backup Secrets, superseded Front Door secrets). */
function* cleanUp(run: RotationRun): Flow<void> {
  const { progress } = run;
  const planned = progress.plan?.stages.flatMap((p) => p.steps) ?? [];
  // The old client CA is pruned from ca.crt only once APIM presents the new client certificate (its
  // stage succeeded: this runs after a Succeeded). Without a client-certificate target in the plan,
  // both CAs stay trusted: APIM may still present a certificate of the old CA.
  const clientSwitched = planned.some((p) => p.kind === "apimService" && p.certificates.length > 0);
  const certificate = progress.plan?.certificate;
  const cleanups = progress.stages.flatMap((s) =>
    s.steps.flatMap((r) => {
      const step = planned.find((p) => p.stepId === r.stepId);
      if (!step || !r.snapshot || step.kind === "apimService" || r.snapshot.kind === "apimService") return [];
      const prune =
        clientSwitched && certificate && step.kind === "kubernetesSecret" && step.writeCa
          ? { pruneCa: { rotationId: run.runId, certificate } }
          : {};
      return [cleanupTarget({ snapshot: r.snapshot, step, ...prune })];
    }),
  );
  if (cleanups.length === 0) return;
  try {
    yield run.context.df.Task.all(cleanups);
  } catch (error) {
    warn(run, "Cleaning up", error);
  }
}

/** The report as it stands; the version being rolled out shows as soon as it is known. */
function liveReport(run: RotationRun): RolloutReport {
  const { input, progress: p } = run;
  const r = assembleReport({
    instanceId: run.rotationId,
    certificate: input.certificate,
    trigger: input.trigger,
    startedAt: run.startedAt,
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
    ...(p.ignored ? { ignored: p.ignored } : {}),
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
