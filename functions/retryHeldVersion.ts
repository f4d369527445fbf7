/**
 * Trigger `retryHeldVersion` (HTTP, function key, like the rollouts API):
 * `POST /api/certificates/{vault}/{certificate}/retry` — an operator retries the certificate's held
 * version (one whose rollout ended RolledBack, Rejected or NeedsAttention, which drift and events
 * leave alone): starts a rollout of it to every binding and releases the hold → 202 with the
 * rollout's links; 400 naming a bad route parameter; 404 `NotHeld` when nothing is held; 409 while a
 * rollout of the certificate runs. A retry that fails again holds the version again.
 */
import { randomUUID } from "node:crypto";
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { DurableClient } from "durable-functions";
import { appConfig } from "../src/config.js";
import { composition } from "../src/composition.js";
import { readHold, releaseHold } from "../src/azure/heldVersions.js";
import { parseRetryRoute, retryRotationInput } from "../src/domain/heldVersion.js";
import { rotationInstanceId } from "../src/domain/instanceIds.js";
import { runIdOf } from "../src/domain/report.js";
import { isRunning, lostToAnother, reportOf } from "../src/domain/rolloutInstance.js";
import { linkRequestOf, rolloutLinks } from "../src/http/links.js";
import { json, problem } from "../src/http/responses.js";
import { rolloutPolicyFrom } from "../src/orchestrations/policy.js";
import { findStatus, START_CONFIRM_TIMEOUT_MS } from "../src/triggers/instanceStatus.js";
import { startRotationOnce } from "../src/triggers/startRotationOnce.js";

/** Retries the held version of one certificate. */
export async function retryHeldVersionHandler(
  request: HttpRequest,
  client: DurableClient,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  // 1. Validate the route before anything reads storage or the Durable client.
  const config = appConfig();
  const route = parseRetryRoute(request.params, config);
  if (!route.ok) return problem(400, "BadRequest", route.message, route.field);
  const { certificate } = route;
  const what = `${certificate.vaultName}/${certificate.certificateName}`;

  // 2. What is held, and whether a rollout of the certificate runs.
  const table = await composition().heldTable();
  const stored = await readHold(table, certificate);
  if (!stored) return problem(404, "NotHeld", `No version of ${what} is held; nothing to retry.`);
  const instanceId = rotationInstanceId(certificate);
  const running = (why: string) => problem(409, "RolloutRunning", `Rollout ${instanceId} of ${what} ${why}`);
  if (isRunning(await findStatus(client, instanceId))) return running("is running; cancel it or wait.");

  // 3. Start the rollout of the held version, then release exactly the hold that was read.
  const requestId = randomUUID();
  const input = retryRotationInput(certificate, stored.held, requestId, rolloutPolicyFrom(config));
  const attempted = Date.now();
  const start = await startRotationOnce(client, instanceId, input, {
    requestId,
    raceWaitMs: START_CONFIRM_TIMEOUT_MS,
  });
  if (start.kind === "raced") {
    if (lostToAnother(start.seen, attempted)) return running(`is running (${start.seen.by}).`);
    throw start.error;
  }
  if (start.kind === "superseded")
    return running(`was started by another request at the same time (${start.by}).`);
  await releaseHold(table, certificate, { etag: stored.etag });
  context.log(
    `Retrying held version ${stored.held.version} of ${what}: started ${instanceId} (request ${requestId}).`,
  );
  const started = reportOf(start.status);
  const links = rolloutLinks(linkRequestOf(request), instanceId, started ? runIdOf(started) : undefined);
  return json(
    202,
    { ...links, requestId, version: stored.held.version },
    { location: links.statusQueryGetUri, "retry-after": "5" },
  );
}

df.app.client.http("retryHeldVersion", {
  route: "certificates/{vault}/{certificate}/retry",
  methods: ["POST"],
  authLevel: "function",
  handler: retryHeldVersionHandler,
});
