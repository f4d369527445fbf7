/**
 * Orchestration `pollUntil`: waits until a condition holds or a deadline passes — a Front Door
 * deployment, an APIM update provisioning, a stage's endpoints serving the new (or previous) leaf, a
 * pending Key Vault renewal, an external issuer's new version. Every long wait of a rollout runs here
 * so that history stays bounded:
 *
 * 1. Renew the lease the caller holds, if any (a lost lease ends the wait: nothing more is written).
 * 2. Read the condition once (one activity call) and judge it: done, failed for good, or not yet.
 * 3. Not yet and the deadline passed: time out with the last evidence.
 * 4. Wait with capped exponential backoff (from the caller's interval, doubling up to
 *    `pollMaxIntervalSeconds`, jitter from the instance id), or until a "cancel" event.
 * 5. After `pollRoundsPerExecution` rounds, continue as new carrying {deadline, attempt, last
 *    evidence}, so no execution's history grows past a few dozen events.
 */
import * as df from "durable-functions";
import type { OrchestrationContext, Task } from "durable-functions";
import type { ProbeEndpointsInput, ReadCertificateOutput } from "../activities/contracts.js";
import { probeEndpoints } from "../activities/probeEndpoints.js";
import { readApimService } from "../activities/readApimService.js";
import { readCertificate } from "../activities/readCertificate.js";
import { readFrontDoorProfile } from "../activities/readFrontDoorProfile.js";
import { readRenewal } from "../activities/readRenewal.js";
import { fitInstanceId } from "../domain/instanceIds.js";
import type { ProbeEvidence, Reasoned } from "../domain/rollback.js";
import { backoffSeconds } from "./backoff.js";
import { waitSettings, type RolloutPolicy } from "./policy.js";
import { awaitChildren, call, renewLease, sleepUnlessCancelled, type Flow } from "./tasks.js";

/** What to wait for. */
export type PollCheck =
  /** Every custom domain provisioned and deployed (on `secretName`, when given). */
  | { kind: "frontDoorDeployed"; profileId: string; customDomains: string[]; secretName?: string }
  /** The service provisioned, each host name on its Key Vault secret id. */
  | { kind: "apimProvisioned"; serviceId: string; hostnames: { hostName: string; keyVaultId: string }[] }
  /** Every probe passes (real handshakes; see `probeEndpoints`). */
  | { kind: "probes"; probe: ProbeEndpointsInput }
  /** The pending renewal of a certificate completed, with a version other than `startedFrom`. */
  | { kind: "renewal"; vaultName: string; certificateName: string; startedFrom: string }
  /** The certificate's current version is no longer `current`. */
  | { kind: "newVersion"; vaultName: string; certificateName: string; current: string };

/** What the last round saw. */
export interface PollEvidence {
  /** Probe results (kind `probes`). */
  probes?: ProbeEvidence[];
  /** A state in words (provisioning, deployment, renewal). */
  state?: string;
  /** The version found (kinds `renewal` and `newVersion`). */
  version?: string;
  /** The new version's public data (kind `newVersion`). */
  certificate?: Extract<ReadCertificateOutput, { found: true }>;
}

/** Input of `pollUntil`. */
export interface PollUntilInput {
  check: PollCheck;
  /** What is awaited, in words (for messages). */
  describe: string;
  /** ISO 8601, orchestration time: when to give up. */
  deadline: string;
  /** The interval after the first round; it doubles up to the policy's cap. */
  firstIntervalSeconds: number;
  policy: RolloutPolicy;
  /** A lease the caller holds on the resource: renewed every round. */
  lease?: { resourceKey: string; owner: string; leaseSeconds: number };
  /** Carried across continue-as-new: rounds done so far. */
  attempt?: number;
  /** Carried across continue-as-new: executions so far. */
  generation?: number;
  /** Carried across continue-as-new: what the last round saw. */
  last?: PollEvidence;
}

/** Output of `pollUntil`. */
export type PollUntilOutput = { rounds: number; evidence: PollEvidence } & (
  { status: "done" } | ({ status: "failed" | "timeout" | "cancelled" | "leaseLost" } & Reasoned)
);

/** One round's judgement. */
type Verdict = { evidence: PollEvidence } & (
  { verdict: "done" } | { verdict: "pending" } | ({ verdict: "failed" } & Reasoned)
);

const same = (a: string | undefined, b: string | undefined) =>
  (a ?? "").toLowerCase() === (b ?? "").toLowerCase();

/** Reads the condition once and judges it. */
function* round(context: OrchestrationContext, input: PollUntilInput): Flow<Verdict> {
  const { check, policy } = input;
  switch (check.kind) {
    case "frontDoorDeployed": {
      const profile = yield* call(
        readFrontDoorProfile,
        { profileId: check.profileId, customDomains: check.customDomains },
        policy,
      );
      const state = profile.customDomains
        .map(
          (d) =>
            `${d.name} ${d.provisioningState}/${d.deploymentStatus}${d.secretName ? ` on ${d.secretName}` : ""}`,
        )
        .join(", ");
      const failed = profile.customDomains.find(
        (d) => same(d.provisioningState, "failed") || same(d.deploymentStatus, "failed"),
      );
      if (failed)
        return {
          verdict: "failed",
          reason: "DeploymentFailed",
          message: `Front Door custom domain ${failed.name} ended its update with provisioning ${failed.provisioningState}, deployment ${failed.deploymentStatus}.`,
          evidence: { state },
        };
      const done = profile.customDomains.every(
        (d) =>
          same(d.provisioningState, "succeeded") &&
          !same(d.deploymentStatus, "inprogress") &&
          (check.secretName === undefined ||
            d.secretName === undefined ||
            same(d.secretName, check.secretName)),
      );
      return { verdict: done ? "done" : "pending", evidence: { state } };
    }
    case "apimProvisioned": {
      const service = yield* call(readApimService, { serviceId: check.serviceId }, policy);
      const state = service.provisioningState;
      if (same(state, "failed"))
        return {
          verdict: "failed",
          reason: "ProvisioningFailed",
          message: `APIM service ${check.serviceId} ended its update in state Failed.`,
          evidence: { state },
        };
      const pointed = check.hostnames.every((h) =>
        service.hostnames.some((s) => same(s.hostName, h.hostName) && same(s.keyVaultId, h.keyVaultId)),
      );
      return { verdict: same(state, "succeeded") && pointed ? "done" : "pending", evidence: { state } };
    }
    case "probes": {
      try {
        const answer = yield* call(probeEndpoints, check.probe, policy);
        return { verdict: answer.ok ? "done" : "pending", evidence: { probes: answer.evidence } };
      } catch (error) {
        const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
        return {
          verdict: "pending",
          evidence: {
            probes: check.probe.probes.map((p) => ({
              hostName: p.hostName,
              expect: p.expect,
              at: context.df.currentUtcDateTime.toISOString(),
              ok: false,
              detail: `Probing failed after every retry: ${message?.slice(0, 300) ?? ""}`,
            })),
          },
        };
      }
    }
    case "renewal": {
      const renewal = yield* call(
        readRenewal,
        { vaultName: check.vaultName, certificateName: check.certificateName },
        policy,
      );
      // A completed operation that names the version we started from is the previous renewal's.
      const stale =
        (renewal.status === "completed" || renewal.status === "none") &&
        same(renewal.version, check.startedFrom);
      if (!stale && (renewal.status === "completed" || (renewal.status === "none" && renewal.version)))
        return { verdict: "done", evidence: { state: renewal.status, version: renewal.version } };
      if (renewal.status === "failed" || renewal.status === "cancelled")
        return {
          verdict: "failed",
          reason: "RenewalFailed",
          message: `The renewal ${renewal.status}: ${renewal.reason}: ${renewal.message}`,
          evidence: { state: renewal.status },
        };
      if (renewal.status === "none" && !stale)
        return {
          verdict: "failed",
          reason: "RenewalFailed",
          message: "Key Vault has no pending renewal and reported no new version.",
          evidence: { state: renewal.status },
        };
      return { verdict: "pending", evidence: { state: renewal.status } };
    }
    case "newVersion": {
      const now = yield* call(
        readCertificate,
        { vaultName: check.vaultName, certificateName: check.certificateName },
        policy,
      );
      if (now.found && !same(now.version, check.current))
        return { verdict: "done", evidence: { version: now.version, certificate: now } };
      return { verdict: "pending", evidence: { state: now.found ? `still ${now.version}` : now.message } };
    }
  }
}

function* pollUntilOrchestrator(context: OrchestrationContext): Flow<PollUntilOutput | undefined> {
  const input = context.df.getInput<PollUntilInput>();
  const settings = waitSettings(input.policy);
  const cancel: Task = context.df.waitForExternalEvent("cancel");
  const deadline = Date.parse(input.deadline);
  let attempt = input.attempt ?? 0;
  let last: PollEvidence = input.last ?? {};
  const show = () =>
    context.df.setCustomStatus({
      describe: input.describe.slice(0, 200),
      round: attempt,
      generation: input.generation ?? 0,
      deadline: input.deadline,
      ...(last.state ? { state: last.state.slice(0, 500) } : {}),
      ...(last.probes
        ? { failing: last.probes.filter((p) => !p.ok).length, probes: last.probes.length }
        : {}),
    });
  show();
  const end = (status: PollUntilOutput["status"], why?: Reasoned): PollUntilOutput =>
    status === "done"
      ? { status, rounds: attempt, evidence: last }
      : { status, rounds: attempt, evidence: last, ...(why ?? { reason: status, message: input.describe }) };

  for (let rounds = 0; ; rounds++) {
    // 5. Bounded history: a fresh execution every few rounds.
    if (rounds >= settings.pollRoundsPerExecution) {
      const next: PollUntilInput = { ...input, attempt, last, generation: (input.generation ?? 0) + 1 };
      context.df.continueAsNew(next);
      return undefined;
    }
    // 1. The lease, before anything else.
    if (input.lease) {
      const lost = yield* renewLease(input.lease, input.policy, input.describe);
      if (lost) return end("leaseLost", lost);
    }
    // 2. One reading.
    const verdict = yield* round(context, input);
    last = verdict.evidence;
    attempt++;
    show();
    if (verdict.verdict === "done") return end("done");
    if (verdict.verdict === "failed") return end("failed", verdict);
    // 3. The deadline.
    const now = context.df.currentUtcDateTime.getTime();
    if (now >= deadline)
      return end("timeout", {
        reason: "Timeout",
        message: `${input.describe}: not done by ${input.deadline}.`,
      });
    // 4. Backoff, or a cancel.
    const wait = Math.min(
      backoffSeconds(
        attempt - 1,
        { firstSeconds: input.firstIntervalSeconds, capSeconds: settings.pollMaxIntervalSeconds },
        context.df.instanceId,
      ),
      (deadline - now) / 1000,
    );
    if (yield* sleepUnlessCancelled(context, wait, cancel))
      return end("cancelled", { reason: "Cancelled", message: `${input.describe}: cancelled on request.` });
  }
}

/** The registered orchestration; callers yield `pollUntil(input, pollInstanceId(…))`. */
export const pollUntil = df.app.orchestration("pollUntil", pollUntilOrchestrator);

/** The instance id of the `n`-th wait of an instance. */
export const pollInstanceId = (parentId: string, n: number): string => fitInstanceId(`${parentId}:w${n}`);

/**
 * Starts a wait as a `pollUntil` sub-orchestration and waits for it; a "cancel" the caller hears
 * meanwhile is passed on to it. Answers the wait's output (`cancelled` when it stopped on the
 * cancel) and whether the caller heard a cancel.
 */
export function* waitFor(
  context: OrchestrationContext,
  input: Omit<PollUntilInput, "attempt" | "generation" | "last">,
  instanceId: string,
  cancel?: Task,
): Flow<{ value: PollUntilOutput; cancelled: boolean }> {
  if (!cancel) return { value: (yield pollUntil(input, instanceId)) as PollUntilOutput, cancelled: false };
  const ran = yield* awaitChildren<PollUntilOutput>(
    context,
    () => pollUntil(input, instanceId),
    [instanceId],
    cancel,
    input.policy,
  );
  return ran.started
    ? { value: ran.value, cancelled: ran.cancelled }
    : {
        value: {
          status: "cancelled",
          rounds: 0,
          evidence: {},
          reason: "Cancelled",
          message: `${input.describe}: cancelled on request before the wait began.`,
        },
        cancelled: true,
      };
}
