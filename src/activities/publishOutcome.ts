/**
 * Activity `publishOutcome`: one CloudEvent per final state to the outcome topic, with the
 * certificate, versions, targets and reason (never key material). The event id is the rollout's run
 * id and the state (`<runId>:<state>`): a retry of the activity sends the same id (a duplicate the
 * consumer can drop), while the next rollout of the certificate — same instance id — sends a new one.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition } from "../composition.js";
import { describeSdkError, retriable } from "../azure/sdkErrors.js";
import { runIdOf } from "../domain/report.js";
import type { PublishOutcomeInput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** The CloudEvent published, or why the topic refused it (a permanent 4xx). */
export interface PublishOutcomeOutput {
  published: boolean;
  eventId: string;
  type: string;
  failure?: { reason: string; message: string };
}

/** CloudEvents `source` of outcome events. */
export const OUTCOME_SOURCE = "/e2e-cert-rotation/rollouts";

/** Publishes the outcome event of a finished rollout. */
export async function publishOutcomeHandler(
  input: PublishOutcomeInput,
  context: InvocationContext,
): Promise<PublishOutcomeOutput> {
  const r = input.report;
  const state = r.outcome?.state ?? "Running";
  const type = `E2ECertRotation.Rollout.${state}`;
  const runId = runIdOf(r);
  const eventId = `${runId}:${state}`;
  const c = composition();
  try {
    await c.outcomePublisher().send([
      {
        type,
        source: OUTCOME_SOURCE,
        id: eventId,
        subject: `${r.certificate.vaultName}/${r.certificate.certificateName}`,
        time: new Date(r.finishedAt ?? c.now().toISOString()),
        datacontenttype: "application/json",
        data: {
          instanceId: r.instanceId,
          runId,
          vaultName: r.certificate.vaultName,
          certificateName: r.certificate.certificateName,
          state,
          reason: r.outcome?.reason,
          message: r.outcome?.message,
          dryRun: r.dryRun,
          trigger: r.trigger,
          versions: r.versions,
          startedAt: r.startedAt,
          finishedAt: r.finishedAt,
          targets: r.stages.flatMap((s) =>
            s.targets.map((t) => ({
              stage: s.stage,
              stepId: t.stepId,
              kind: t.kind,
              description: t.description,
              status: t.status,
              previous: t.previous,
              next: t.next,
              ...(t.failure ? { failure: t.failure } : {}),
            })),
          ),
        },
      },
    ]);
    context.log(`publishOutcome: ${type} ${eventId}.`);
    return { published: true, eventId, type };
  } catch (e) {
    const f = describeSdkError(e, `Publishing ${type}`);
    context.warn(`publishOutcome: ${f.message}`);
    if (f.kind === "permanent" || f.kind === "notFound") {
      return {
        published: false,
        eventId,
        type,
        failure: { reason: f.code ?? "PublishRefused", message: f.message },
      };
    }
    throw retriable(f);
  }
}

/** The registered activity; orchestrators yield `publishOutcome(input)`. */
export const publishOutcome: TypedActivity<PublishOutcomeInput, PublishOutcomeOutput> = df.app.activity(
  "publishOutcome",
  { handler: publishOutcomeHandler },
);
