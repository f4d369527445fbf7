/**
 * Activity `takeApimTurn`: where the caller's queued APIM change stands. Settled: its outcome (with
 * the rollout's snapshot of the state before, for apply changes that may have landed). Not settled:
 * withdrawn when the caller is stopping and no update claimed it; else the service's lease for the
 * caller (it sends the next update), or who holds the lease and when to ask again.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition, type Composition } from "../composition.js";
import { readChange, replaceChange, type StoredChange } from "../azure/apimQueue.js";
import { takeLease } from "../azure/leases.js";
import { describeSdkError, retriable } from "../azure/sdkErrors.js";
import { readSnapshot } from "../azure/snapshots.js";
import type { ApimServiceSnapshot } from "../domain/rollback.js";
import type { TakeApimTurnInput, TakeApimTurnOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** The caller's turn. */
export async function takeApimTurnHandler(
  input: TakeApimTurnInput,
  context: InvocationContext,
): Promise<TakeApimTurnOutput> {
  const c = composition();
  try {
    const table = await c.lockTable();
    for (let attempt = 0; attempt < 5; attempt++) {
      const stored = await readChange(table, input.serviceId, input.requestId);
      if (!stored) {
        // Gone (pruned, or deleted by hand). An update claimed it if its snapshot was kept: roll back from it.
        const kept = await snapshotOfRequest(c, input.requestId);
        return {
          turn: "failed",
          attemptedWrite: kept.snapshot !== undefined,
          ...kept,
          reason: "ChangeNotQueued",
          message: `No queued change ${input.requestId} for ${input.serviceId}.`,
        };
      }
      switch (stored.state) {
        case "done":
          return { turn: "done", ...(await snapshotOf(c, stored)) };
        case "failed":
          return {
            turn: "failed",
            attemptedWrite: stored.attemptedWrite,
            ...(stored.attemptedWrite ? await snapshotOf(c, stored) : {}),
            reason: stored.reason ?? "UpdateFailed",
            message: stored.message ?? "The APIM update carrying this change failed.",
          };
        case "withdrawn":
          return {
            turn: "withdrawn",
            attemptedWrite: stored.attemptedWrite,
            ...(await snapshotOf(c, stored)),
          };
        case "pending":
          if (input.withdraw) {
            // Lost the race against a claim (412): read again.
            if (!(await replaceChange(table, input.serviceId, stored, { state: "withdrawn" }))) continue;
            context.log(`takeApimTurn: ${input.requestId} withdrawn before any update claimed it.`);
            return {
              turn: "withdrawn",
              attemptedWrite: stored.attemptedWrite,
              ...(await snapshotOf(c, stored)),
            };
          }
          break;
        case "claimed":
          break;
      }
      const lease = await takeLease(
        table,
        { resourceKey: input.serviceId, owner: input.owner, leaseSeconds: input.leaseSeconds },
        c.now(),
      );
      if (lease.acquired) {
        context.log(`takeApimTurn: ${input.owner} holds ${input.serviceId} until ${lease.expiresAt}.`);
        return { turn: "lead" };
      }
      return { turn: "wait", heldBy: lease.heldBy, retryAfterSeconds: lease.retryAfterSeconds };
    }
    throw new Error(`The queued change ${input.requestId} kept changing under us.`);
  } catch (e) {
    const f = describeSdkError(e, `Reading the queued change ${input.requestId}`);
    context.warn(`takeApimTurn: ${f.message}`);
    throw retriable(f);
  }
}

/** The rollout's snapshot of the state before its change, when it is an apply change that kept one. */
async function snapshotOf(c: Composition, q: StoredChange): Promise<{ snapshot?: ApimServiceSnapshot }> {
  if (q.change.kind !== "apply") return {};
  const snapshot = await readSnapshot<ApimServiceSnapshot>(c, q.change.rotationId, q.change.stepId);
  return snapshot ? { snapshot } : {};
}

/** The snapshot of a change known only by its request id (`<rotationId>|<stepId>|<kind>`). */
async function snapshotOfRequest(
  c: Composition,
  requestId: string,
): Promise<{ snapshot?: ApimServiceSnapshot }> {
  const parts = requestId.split("|");
  const [rotationId, stepId, kind] = [parts.slice(0, -2).join("|"), parts.at(-2), parts.at(-1)];
  if (kind !== "apply" || !rotationId || !stepId) return {};
  const snapshot = await readSnapshot<ApimServiceSnapshot>(c, rotationId, stepId);
  return snapshot ? { snapshot } : {};
}

/** The registered activity; orchestrators yield `takeApimTurn(input)`. */
export const takeApimTurn: TypedActivity<TakeApimTurnInput, TakeApimTurnOutput> = df.app.activity(
  "takeApimTurn",
  { handler: takeApimTurnHandler },
);
