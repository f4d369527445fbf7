/**
 * Activity `publishOutcome`: Publishes one CloudEvent per final state to the outcome topic.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { PublishOutcomeInput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** The CloudEvent published (its id is deterministic, so a retry is a duplicate). */
export interface PublishOutcomeOutput {
  eventId: string;
  type: string;
}

/** Publishes one CloudEvent per final state to the outcome topic. */
export async function publishOutcomeHandler(
  input: PublishOutcomeInput,
  context: InvocationContext,
): Promise<PublishOutcomeOutput> {
  void input;
  void context;
  throw new Error("publishOutcome is not implemented yet.");
}

/** The registered activity; orchestrators yield `publishOutcome(input)`. */
export const publishOutcome: TypedActivity<PublishOutcomeInput, PublishOutcomeOutput> = df.app.activity(
  "publishOutcome",
  { handler: publishOutcomeHandler },
);
