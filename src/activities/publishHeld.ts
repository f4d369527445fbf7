/**
 * Activity `publishHeld`: tells a person that the drift scan left a drifted certificate alone
 * because its version is held — a CloudEvent `E2ECertRotation.Drift.VersionHeld` to the outcome
 * topic (beside the rollouts' outcome events), id `<scanId>:<vault>/<certificate>:held`, so a retry
 * sends a duplicate the consumer can drop and the next scan tells again.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition } from "../composition.js";
import { describeSdkError, retriable } from "../azure/sdkErrors.js";
import type { CertificateRef } from "../domain/bindings.js";
import type { HeldVersion } from "../domain/heldVersion.js";
import type { PublishOutcomeOutput } from "./publishOutcome.js";
import { OUTCOME_SOURCE } from "./publishOutcome.js";
import type { TypedActivity } from "./typed.js";

/** Input of `publishHeld`. */
export interface PublishHeldInput {
  scanId: string;
  certificate: CertificateRef;
  held: HeldVersion;
  /** The bindings that drifted and were left alone. */
  targets: string[];
  message: string;
}

/** CloudEvents type of the event. */
export const VERSION_HELD_TYPE = "E2ECertRotation.Drift.VersionHeld";

/** Publishes the event; a permanent refusal is answered, not thrown. */
export async function publishHeldHandler(
  input: PublishHeldInput,
  context: InvocationContext,
): Promise<PublishOutcomeOutput> {
  const { scanId, certificate, held } = input;
  const subject = `${certificate.vaultName}/${certificate.certificateName}`;
  const eventId = `${scanId}:${subject}:held`;
  const c = composition();
  try {
    await c.outcomePublisher().send([
      {
        type: VERSION_HELD_TYPE,
        source: OUTCOME_SOURCE,
        id: eventId,
        subject,
        time: c.now(),
        datacontenttype: "application/json",
        data: { scanId, ...certificate, held, targets: input.targets, message: input.message },
      },
    ]);
    context.log(`publishHeld: ${VERSION_HELD_TYPE} ${eventId}.`);
    return { published: true, eventId, type: VERSION_HELD_TYPE };
  } catch (e) {
    const f = describeSdkError(e, `Publishing ${VERSION_HELD_TYPE}`);
    context.warn(`publishHeld: ${f.message}`);
    if (f.kind === "permanent" || f.kind === "notFound")
      return {
        published: false,
        eventId,
        type: VERSION_HELD_TYPE,
        failure: { reason: f.code ?? "PublishRefused", message: f.message },
      };
    throw retriable(f);
  }
}

/** The registered activity; the drift scan yields `publishHeld(input)`. */
export const publishHeld: TypedActivity<PublishHeldInput, PublishOutcomeOutput> = df.app.activity(
  "publishHeld",
  { handler: publishHeldHandler },
);
