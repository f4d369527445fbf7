/**
 * Trigger `certificateInventory` (HTTP, function key): `GET /api/certificates` → each certificate,
 * its expiry, its bindings and what each serves now, from one report-only drift scan under a fixed
 * instance id. A recent completed scan is answered at once; a running one is waited for briefly;
 * otherwise the old scan (and its per-certificate sub-orchestrations) is purged and a new one
 * started. While it runs past the wait: 202 with `Location` (this URL) and `Retry-After`.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { DurableClient } from "durable-functions";
import { appConfig } from "../src/config.js";
import { INVENTORY_INSTANCE_ID, inventoryOf, inventoryReusable } from "../src/domain/inventory.js";
import { inventoryLink, linkRequestOf } from "../src/http/links.js";
import { json, problem } from "../src/http/responses.js";
import type { DriftScanOutput } from "../src/orchestrations/driftScan.js";
import { findStatus, waitForEnd } from "../src/triggers/instanceStatus.js";
import { purgeInventory, startInventoryScan } from "../src/triggers/inventoryScan.js";

/** How long `GET /api/certificates` waits for a running scan before answering 202 with a Location. */
export const INVENTORY_WAIT_MS = 20_000;

/** `GET /api/certificates`: reuse or start the scan, wait briefly, answer the inventory. */
export async function certificateInventoryHandler(
  request: HttpRequest,
  client: DurableClient,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const id = INVENTORY_INSTANCE_ID;
  const fresh = request.query.get("fresh") === "true";
  const status = await findStatus(client, id);
  if (!inventoryReusable(status, new Date(), fresh)) {
    if (status) await purgeInventory(client, status);
    if (await startInventoryScan(client, id, appConfig(), new Date()))
      context.log(`Inventory scan ${id} started.`);
  }
  const ended = await waitForEnd(client, id, INVENTORY_WAIT_MS);
  if (!ended) {
    const location = inventoryLink(linkRequestOf(request));
    return json(
      202,
      { id, status: "running", message: "The inventory scan is running; ask again at the Location." },
      { location, "retry-after": "5" },
    );
  }
  if (String(ended.runtimeStatus) !== "Completed")
    return problem(500, "InventoryFailed", `The inventory scan ${id} ended ${String(ended.runtimeStatus)}.`);
  return json(200, inventoryOf(ended.output as DriftScanOutput));
}

df.app.client.http("certificateInventory", {
  route: "certificates",
  methods: ["GET"],
  authLevel: "function",
  handler: certificateInventoryHandler,
});
