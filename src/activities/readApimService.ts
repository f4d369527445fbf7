/**
 * Activity `readApimService`: the service's provisioning state and what its hostnames and
 * `certificates` entities point at (to wait for an update).
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition } from "../composition.js";
import { apimServiceId } from "../azure/apim.js";
import { describeSdkError, retriable } from "../azure/sdkErrors.js";
import type { ReadApimServiceInput, ReadApimServiceOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/** Reads an APIM service's state. */
export async function readApimServiceHandler(
  input: ReadApimServiceInput,
  context: InvocationContext,
): Promise<ReadApimServiceOutput> {
  const c = composition();
  const id = apimServiceId(input.serviceId);
  const client = c.apimClient(id.subscriptionId);
  try {
    const service = await client.apiManagementService.get(id.resourceGroup, id.name);
    const certificates: ReadApimServiceOutput["certificates"] = [];
    for await (const cert of client.certificate.listByService(id.resourceGroup, id.name)) {
      if (!cert.name) continue;
      certificates.push({
        certificateId: cert.name,
        ...(cert.keyVault?.secretIdentifier ? { secretIdentifier: cert.keyVault.secretIdentifier } : {}),
        ...(cert.thumbprint ? { thumbprint: cert.thumbprint.toUpperCase() } : {}),
      });
    }
    return {
      provisioningState: service.provisioningState ?? "Unknown",
      hostnames: (service.hostnameConfigurations ?? []).map((h) => ({
        type: h.type,
        hostName: h.hostName,
        ...(h.keyVaultId ? { keyVaultId: h.keyVaultId } : {}),
        ...(h.certificate?.thumbprint ? { thumbprint: h.certificate.thumbprint.toUpperCase() } : {}),
      })),
      certificates,
    };
  } catch (e) {
    const f = describeSdkError(e, `Reading APIM ${id.name}`);
    context.warn(`readApimService: ${f.message}`);
    throw retriable(f);
  }
}

/** The registered activity; orchestrators yield `readApimService(input)`. */
export const readApimService: TypedActivity<ReadApimServiceInput, ReadApimServiceOutput> = df.app.activity(
  "readApimService",
  { handler: readApimServiceHandler },
);
