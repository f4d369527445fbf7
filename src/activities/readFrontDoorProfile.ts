/**
 * Activity `readFrontDoorProfile`: provisioning and deployment state of a profile's custom domains
 * and the secret each uses.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition } from "../composition.js";
import { domainSecret, frontDoorProfileId } from "../azure/frontDoor.js";
import { describeSdkError, retriable } from "../azure/sdkErrors.js";
import type { ReadFrontDoorProfileInput, ReadFrontDoorProfileOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Reads the custom domains' state. */
export async function readFrontDoorProfileHandler(
  input: ReadFrontDoorProfileInput,
  context: InvocationContext,
): Promise<ReadFrontDoorProfileOutput> {
  const c = composition();
  const p = frontDoorProfileId(input.profileId);
  const client = c.cdnClient(p.subscriptionId);
  try {
    const customDomains = await Promise.all(
      input.customDomains.map(async (name) => {
        const d = await domainSecret(client, p, name);
        return {
          name,
          ...(d.secretName ? { secretName: d.secretName } : {}),
          provisioningState: d.provisioningState ?? "Unknown",
          deploymentStatus: d.deploymentStatus ?? "Unknown",
        };
      }),
    );
    return { customDomains };
  } catch (e) {
    const f = describeSdkError(e, `Reading Front Door profile ${p.name}`);
    context.warn(`readFrontDoorProfile: ${f.message}`);
    throw retriable(f);
  }
}

/** The registered activity; orchestrators yield `readFrontDoorProfile(input)`. */
export const readFrontDoorProfile: TypedActivity<ReadFrontDoorProfileInput, ReadFrontDoorProfileOutput> =
  df.app.activity("readFrontDoorProfile", { handler: readFrontDoorProfileHandler });
