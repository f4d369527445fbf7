/**
 * Orchestration `rollbackRotation`: undoes a rollout, stage by stage in reverse order of application.
 *
 * For each stage of the rollback plan:
 * 1. Put every target of the stage back in parallel (`restoreTarget` per action).
 * 2. Probe the stage's endpoints until each serves its previous certificate again (the thumbprint
 *    its snapshot recorded), or the stage's deadline passes.
 * Targets the plan could not restore are carried through as unrestorable. A target counts as
 * rolled back only when a handshake shows its previous certificate. The probe waits run as
 * `pollUntil` sub-orchestrations (bounded history); the custom status holds counts only.
 */
import * as df from "durable-functions";
import type { OrchestrationContext } from "durable-functions";
import { rollbackTarget } from "../activities/rollbackTarget.js";
import type { Stage } from "../domain/bindings.js";
import { fitInstanceId } from "../domain/instanceIds.js";
import { errorSentence, restoreOrchestrationFailed, rollbackNotVerified } from "../domain/reasons.js";
import type {
  ProbeEvidence,
  RollbackAction,
  RollbackActionResult,
  RollbackPlan,
  RollbackProbe,
  RollbackResult,
} from "../domain/rollback.js";
import type { RolloutPolicy } from "./policy.js";
import { pollInstanceId, pollUntil, type PollUntilInput, type PollUntilOutput } from "./pollUntil.js";
import { restoreTarget, type RestoreTargetInput, type RestoreTargetOutput } from "./restoreTarget.js";
import { rollbackStatusView } from "./status.js";
import { after, call, type Flow } from "./tasks.js";

/** Input of `rollbackRotation`. */
export interface RollbackRotationInput {
  rotationId: string;
  rollback: RollbackPlan;
  policy: RolloutPolicy;
  /** Seconds each stage may take to serve the previous certificate again. */
  deadlineSeconds: Record<Stage, number>;
  /**
   * The leaf being rolled back: a host whose previous leaf is not known passes when it serves a
   * valid leaf other than this one (without it, such a host can only be reported unverifiable).
   */
  newThumbprint?: string;
}

/** Output of `rollbackRotation`. */
export type RollbackRotationOutput = RollbackResult;

function* rollbackRotationOrchestrator(context: OrchestrationContext): Flow<RollbackRotationOutput> {
  const input = context.df.getInput<RollbackRotationInput>();
  const results: RollbackActionResult[] = [];
  let waits = 0;
  const show = () =>
    context.df.setCustomStatus(
      rollbackStatusView({ actions: results, unrestorable: input.rollback.unrestorable }),
    );
  show();
  for (const stage of input.rollback.stages) {
    const deadlineSeconds = input.deadlineSeconds[stage.stage];
    // 1. Every target of the stage back at once.
    const restores = stage.actions.map((action, i) => {
      const restoreInput: RestoreTargetInput = {
        action,
        rotationId: input.rotationId,
        policy: input.policy,
        deadlineSeconds,
      };
      return restoreTarget(restoreInput, fitInstanceId(`${context.df.instanceId}:s${stage.index}-t${i + 1}`));
    });
    let written: RestoreTargetOutput[];
    try {
      written = (yield context.df.Task.all(restores)) as RestoreTargetOutput[];
    } catch (error) {
      written = stage.actions.map((a) => ({
        stepId: a.stepId,
        restored: false,
        failure: restoreOrchestrationFailed(error, a.stepId),
      }));
    }
    // 2. Probe each restored target for its previous certificate.
    const restored = stage.actions.filter((a) => written.find((w) => w.stepId === a.stepId)?.restored);
    const evidence = yield* probeUntilPrevious(context, input, restored, deadlineSeconds, () => ++waits);
    for (const action of stage.actions) {
      const w = written.find((x) => x.stepId === action.stepId);
      const mine = evidence.filter((e) => action.probes.some((p) => sameHost(p.hostName, e.hostName)));
      const verified = w?.restored === true && mine.every((e) => e.ok);
      const failure = w?.failure ?? (verified ? undefined : rollbackNotVerified(mine.filter((e) => !e.ok)));
      // 3. Only a verified rollback lets go of the Front Door secret made for the new version.
      const after = yield* afterVerification(input, action, verified);
      const notices = [
        ...((action.kind !== "kubernetesSecret" ? action.notices : undefined) ?? []),
        ...after,
      ];
      results.push({
        stepId: action.stepId,
        verified,
        ...(failure ? { failure } : {}),
        probes: mine,
        ...(notices.length ? { notices } : {}),
      });
    }
    show();
  }
  return { actions: results, unrestorable: input.rollback.unrestorable };
}

const sameHost = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/**
 * After a Front Door action's verification: a verified one deletes the secret made for the new
 * version (the domains no longer use it); an unverified one keeps it, for a person to repoint to.
 * Answers what the report says about it.
 */
function* afterVerification(
  input: RollbackRotationInput,
  action: RollbackAction,
  verified: boolean,
): Flow<string[]> {
  if (action.kind !== "frontDoorProfile" || !action.deleteSecretName) return [];
  if (!verified)
    return [
      `Front Door secret ${action.deleteSecretName} (the new version) was kept: the rollback is not verified.`,
    ];
  try {
    const out = yield* call(
      rollbackTarget,
      { action, rotationId: input.rotationId, restartDeployments: false, phase: "deleteCreated" },
      input.policy,
    );
    return "detail" in out && out.detail ? [`Front Door ${out.detail}.`] : [];
  } catch (error) {
    return [errorSentence(error, `Deleting Front Door secret ${action.deleteSecretName}`)];
  }
}

/**
 * Probes the restored targets until every one serves its previous certificate, or the deadline: one
 * `pollUntil` per expected thumbprint (a probe call checks one), all at once.
 */
function* probeUntilPrevious(
  context: OrchestrationContext,
  input: RollbackRotationInput,
  actions: RollbackAction[],
  deadlineSeconds: number,
  nextWait: () => number,
): Flow<ProbeEvidence[]> {
  const probes = actions.flatMap((a) => a.probes);
  if (probes.length === 0) return [];
  const groups = new Map<string, RollbackProbe[]>();
  for (const p of probes) groups.set(p.thumbprint ?? "", [...(groups.get(p.thumbprint ?? "") ?? []), p]);
  const stage = stageOf(actions[0] as RollbackAction);
  const deadline = after(context, deadlineSeconds).toISOString();
  const waits = [...groups].map(([thumbprint, group]) => {
    const wait: PollUntilInput = {
      check: {
        kind: "probes",
        probe: {
          stage,
          probes: group.map((p) => ({
            hostName: p.hostName,
            expect: p.expect,
            ...(p.connectTo ? { connectTo: p.connectTo } : {}),
          })),
          ...(thumbprint
            ? { expectThumbprint: thumbprint }
            : input.newThumbprint
              ? { rejectThumbprint: input.newThumbprint }
              : {}),
        },
      },
      describe: `${group.map((p) => p.hostName).join(", ")} serving the previous certificate`,
      deadline,
      firstIntervalSeconds: input.policy.probeIntervalSeconds,
      policy: input.policy,
    };
    return pollUntil(wait, pollInstanceId(context.df.instanceId, nextWait()));
  });
  try {
    const outputs = (yield context.df.Task.all(waits)) as PollUntilOutput[];
    return outputs.flatMap((o) => o.evidence.probes ?? []);
  } catch (error) {
    return probes.map((p) => ({
      hostName: p.hostName,
      expect: p.expect,
      at: context.df.currentUtcDateTime.toISOString(),
      ok: false,
      detail: errorSentence(error, "Probing"),
    }));
  }
}

function stageOf(action: RollbackAction): Stage {
  return action.kind === "kubernetesSecret"
    ? "kubernetes"
    : action.kind === "apimService"
      ? "apim"
      : "frontDoor";
}

/** The registered orchestration; the rotation yields `rollbackRotation(input, rollbackInstanceId(…))`. */
export const rollbackRotation = df.app.orchestration("rollbackRotation", rollbackRotationOrchestrator);
