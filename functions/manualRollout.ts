/**
 * Trigger `manualRollout` (HTTP, function key), the rollouts API:
 *
 * - `POST /api/rollouts` `{ vault, certificate, version?, targets?, dryRun?, renew? }` → 202 with our
 *   own status, report and cancel URLs (never the Durable system-key URLs); 400 naming the bad
 *   field; 400 `UnknownTargets` naming the `targets` no binding matches (discovery runs first); 409
 *   while a rollout of the certificate runs. A route `{id}` that is no rollout id is a 400 naming it.
 * - `GET /api/rollouts/{id}/status` → runtime status, run id and outcome.
 * - `GET /api/rollouts` → the audit records, newest first (`?certificate=vault/name`, or a bare
 *   name in every allowed vault, reads that certificate's partition only).
 * - `GET /api/rollouts/{id}` → the report (JSON; plain text with `Accept: text/plain`); `id` is a
 *   run id (`report.runId`, one rollout) or the certificate's instance id (its latest rollout).
 * - `POST /api/rollouts/{id}/cancel` → raises "cancel" (202), 409 `NotRunning` when it does not run or
 *   has already decided its outcome. A cancel the rollout hears only after its last stage succeeded
 *   changes nothing: it ends Succeeded, saying "Cancel arrived too late".
 *
 * One registered function for the five routes: a function key is per function in Azure, and the
 * one key of `manualRollout` (docs/deploy.md) must keep opening every route of the API.
 */
import { randomUUID } from "node:crypto";
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { DurableClient } from "durable-functions";
import { appConfig } from "../src/config.js";
import {
  auditedReport,
  auditRecords,
  certificatePartitions,
  partitionAuditRecords,
} from "../src/azure/auditTable.js";
import { composition } from "../src/composition.js";
import { decideCancel } from "../src/domain/cancelDecision.js";
import { unknownTargets } from "../src/domain/reasons.js";
import { rolloutIdProblem } from "../src/domain/routeIds.js";
import { rotationInstanceId } from "../src/domain/instanceIds.js";
import { instanceIdOfRun, renderReport, runIdOf } from "../src/domain/report.js";
import { isRunning, lostToAnother, reportOf } from "../src/domain/rolloutInstance.js";
import { manualRotationInput, parseRolloutRequest } from "../src/domain/rolloutRequest.js";
import { auditedStatusBody, instanceStatusBody } from "../src/domain/rolloutStatusBody.js";
import { linkRequestOf, rolloutLinks } from "../src/http/links.js";
import { json, plainText, problem, wantsPlainText } from "../src/http/responses.js";
import { rolloutPolicyFrom } from "../src/orchestrations/policy.js";
import { findStatus, START_CONFIRM_TIMEOUT_MS } from "../src/triggers/instanceStatus.js";
import { raiseRolloutCancel } from "../src/triggers/raiseRolloutCancel.js";
import { rolloutReport } from "../src/triggers/rolloutReport.js";
import { startRotationOnce } from "../src/triggers/startRotationOnce.js";
import { unmatchedTargets } from "../src/triggers/unmatchedTargets.js";

/** Routes the rollouts API. */
export async function manualRolloutHandler(
  request: HttpRequest,
  client: DurableClient,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const { id, action } = request.params;
  const badId = id ? rolloutIdProblem(id) : undefined;
  if (badId) return problem(400, "BadRequest", badId, "id");
  if (request.method === "POST" && !id) return startRollout(request, client, context);
  if (request.method === "GET" && !id) return listRollouts(request);
  if (request.method === "GET" && id && !action) return showRollout(request, client, id);
  if (request.method === "GET" && id && action === "status") return showStatus(client, id);
  if (request.method === "POST" && id && action === "cancel") return cancelRollout(client, id, context);
  const path = `${id ? `/${id}` : ""}${action ? `/${action}` : ""}`;
  return problem(404, "NotFound", `No ${request.method} /api/rollouts${path}.`);
}

/** `POST /api/rollouts`: validate, one rollout per certificate, start it, answer its links. */
async function startRollout(
  request: HttpRequest,
  client: DurableClient,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  // 1. Validate.
  const body: unknown = await request.json().catch(() => NOT_JSON);
  if (body === NOT_JSON) return problem(400, "BadRequest", "The body must be a JSON object.", "(body)");
  const config = appConfig();
  const parsed = parseRolloutRequest(body, config);
  if (!parsed.ok) return problem(400, "BadRequest", parsed.message, parsed.field);
  const rollout = parsed.rollout;
  const certificate = { vaultName: rollout.vaultName, certificateName: rollout.certificate };
  const unmatched = rollout.targets
    ? await unmatchedTargets(composition(), certificate, rollout.targets)
    : [];
  if (unmatched.length)
    return problem(400, "UnknownTargets", unknownTargets(certificate, unmatched).message, "targets");
  const requestId = randomUUID();
  const input = manualRotationInput(rollout, requestId, rolloutPolicyFrom(config));
  const instanceId = rotationInstanceId(input.certificate);
  const running = (why: string) =>
    problem(
      409,
      "RolloutRunning",
      `Rollout ${instanceId} of ${rollout.vaultName}/${rollout.certificate} ${why}`,
    );

  // 2. One rollout per certificate.
  if (isRunning(await findStatus(client, instanceId))) return running("is running; cancel it or wait.");

  // 3. Start it, and confirm the instance runs this request.
  const attempted = Date.now();
  const start = await startRotationOnce(client, instanceId, input, {
    requestId,
    raceWaitMs: START_CONFIRM_TIMEOUT_MS,
  });
  if (start.kind === "raced") {
    // Another request was starting it at this very moment: that one runs.
    if (lostToAnother(start.seen, attempted)) return running(`is running (${start.seen.by}).`);
    throw start.error;
  }
  if (start.kind === "superseded") {
    context.log(`Request ${requestId} for ${instanceId}: superseded by ${start.by}.`);
    return running(`was started by another request at the same time (${start.by}); this one did not start.`);
  }
  context.log(`Started ${instanceId} (request ${requestId}): ${input.trigger.detail}.`);
  const started = reportOf(start.status);
  const links = rolloutLinks(linkRequestOf(request), instanceId, started ? runIdOf(started) : undefined);
  return json(202, { ...links, requestId }, { location: links.statusQueryGetUri, "retry-after": "5" });
}

const NOT_JSON = Symbol("not JSON");

/** `GET /api/rollouts/{id}/status`: the runtime status of the rollout and its outcome, if any. */
async function showStatus(client: DurableClient, id: string): Promise<HttpResponseInit> {
  const live = instanceStatusBody(id, await findStatus(client, instanceIdOfRun(id) ?? id));
  if (live) return json(200, live);
  const audited = await auditedReport(await composition().auditTable(), id);
  return audited ? json(200, auditedStatusBody(audited)) : problem(404, "NotFound", `No rollout ${id}.`);
}

/** `GET /api/rollouts/{id}`: the report, as JSON or plain text. */
async function showRollout(
  request: HttpRequest,
  client: DurableClient,
  id: string,
): Promise<HttpResponseInit> {
  const report = await rolloutReport(client, id);
  if (!report) return problem(404, "NotFound", `No rollout ${id}.`);
  return wantsPlainText(request.headers.get("accept")) ? plainText(renderReport(report)) : json(200, report);
}

/** `POST /api/rollouts/{id}/cancel`: passes "cancel" to the rollout while it can still hear it. */
async function cancelRollout(
  client: DurableClient,
  runOrInstanceId: string,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const decision = decideCancel(
    runOrInstanceId,
    await findStatus(client, instanceIdOfRun(runOrInstanceId) ?? runOrInstanceId),
  );
  if (decision.action === "notFound") return problem(404, "NotFound", `No rollout ${runOrInstanceId}.`);
  if (decision.action === "notRunning") return problem(409, "NotRunning", decision.message);
  const id = decision.instanceId;
  await raiseRolloutCancel(client, id);
  context.log(`Cancel requested for ${id}.`);
  return json(202, { id, status: "cancelRequested" });
}

/** `GET /api/rollouts[?certificate=vault/name]`: the audit records, newest first. */
async function listRollouts(request: HttpRequest): Promise<HttpResponseInit> {
  const certificate = request.query.get("certificate")?.trim();
  if (!certificate) return json(200, { value: await auditRecords(await composition().auditTable()) });
  const partitions = certificatePartitions(appConfig(), certificate);
  if (!partitions)
    return problem(
      400,
      "BadRequest",
      `Query certificate: '${certificate}' names no vault of ALLOWED_VAULT_URLS.`,
      "certificate",
    );
  return json(200, { value: await partitionAuditRecords(await composition().auditTable(), partitions) });
}

df.app.client.http("manualRollout", {
  route: "rollouts/{id?}/{action?}",
  methods: ["GET", "POST"],
  authLevel: "function",
  handler: manualRolloutHandler,
});
