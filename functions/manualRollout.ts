/**
 * Trigger `manualRollout` (HTTP, function key), the rollouts API:
 *
 * - `POST /api/rollouts` `{ vault, certificate, version?, targets?, dryRun?, renew? }` → 202 with our
 *   own status, report and cancel URLs (never the Durable system-key URLs); 400 naming the bad
 *   field; 409 while a rollout of the certificate runs.
 * - `GET /api/rollouts/{id}/status` → runtime status, run id and outcome.
 * - `GET /api/rollouts` → the audit records, newest first (`?certificate=vault/name`, or a bare
 *   name in every allowed vault, reads that certificate's partition only).
 * - `GET /api/rollouts/{id}` → the report (JSON; plain text with `Accept: text/plain`); `id` is a
 *   run id (`report.runId`, one rollout) or the certificate's instance id (its latest rollout).
 * - `POST /api/rollouts/{id}/cancel` → raises "cancel" (202), 409 `NotRunning` when it does not run or
 *   has already decided its outcome. A cancel the rollout hears only after its last stage succeeded
 *   changes nothing: it ends Succeeded, saying "Cancel arrived too late".
 *
 * And trigger `certificateInventory`: `GET /api/certificates` → each certificate, its expiry, its
 * bindings and what each serves now (one report-only drift scan under a fixed id, reused while
 * recent; 202 with a Location while it runs long).
 */
import { randomUUID } from "node:crypto";
import { odata } from "@azure/data-tables";
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { DurableClient, DurableOrchestrationStatus } from "durable-functions";
import { z } from "zod";
import { auditPartitionKey, auditRowKey, reportOf as auditReportOf } from "../src/activities/recordAudit.js";
import { composition } from "../src/composition.js";
import { formatPath } from "../src/domain/bindings.js";
import { parseRotationInstanceId, rotationInstanceId } from "../src/domain/instanceIds.js";
import { instanceIdOfRun, renderReport, runIdOf, type RolloutReport } from "../src/domain/report.js";
import { driftCertificateInstanceId, type DriftScanOutput } from "../src/orchestrations/driftScan.js";
import { rolloutPolicyFrom, type DriftScanInput, type RotationInput } from "../src/orchestrations/policy.js";
import {
  allowedVault,
  allowedVaultNames,
  appConfig,
  confirmStart,
  findStatus,
  isRunning,
  liveReport,
  reportOf,
  runningStageIds,
} from "../src/triggers/triggerSupport.js";

const name = z
  .string({ error: "must be a string" })
  .trim()
  .regex(/^[0-9a-zA-Z-]{1,127}$/, { error: "must be a Key Vault object name (letters, digits, hyphens)" });

/** Body of `POST /api/rollouts`. */
export const rolloutRequestSchema = z.strictObject({
  vault: z
    .string({ error: "is required: a vault name or URL" })
    .trim()
    .min(1, { error: "must not be empty" }),
  certificate: name,
  version: z
    .string({ error: "must be a string" })
    .trim()
    .regex(/^[0-9a-zA-Z]{1,64}$/, { error: "must be a Key Vault version id" })
    .optional(),
  targets: z
    .array(z.string({ error: "must be a string" }).trim().min(1, { error: "must not be empty" }), {
      error: "must be an array of target selectors",
    })
    .min(1, { error: "must name at least one target (leave it out for all)" })
    .optional(),
  dryRun: z.boolean({ error: "must be true or false" }).optional(),
  renew: z.boolean({ error: "must be true or false" }).optional(),
});

const json = (status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit => ({
  status,
  jsonBody: body,
  headers: { "content-type": "application/json; charset=utf-8", ...headers },
});
const problem = (status: number, code: string, message: string, field?: string): HttpResponseInit =>
  json(status, { error: { code, message, ...(field ? { field } : {}) } });

/** The `?code=` of the request, carried into the URLs we hand out (function-key auth). */
function withCode(url: string, request: HttpRequest): string {
  const code = request.query.get("code");
  return code ? `${url}${url.includes("?") ? "&" : "?"}code=${encodeURIComponent(code)}` : url;
}

/** Routes the rollouts API. */
export async function manualRolloutHandler(
  request: HttpRequest,
  client: DurableClient,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const id = request.params.id;
  const action = request.params.action;
  if (request.method === "POST" && !id) return startRollout(request, client, context);
  if (request.method === "GET" && !id) return listRollouts(request);
  if (request.method === "GET" && id && !action) return showRollout(request, client, id);
  if (request.method === "GET" && id && action === "status") return showStatus(client, id);
  if (request.method === "POST" && id && action === "cancel") return cancelRollout(client, id, context);
  return problem(
    404,
    "NotFound",
    `No ${request.method} /api/rollouts${id ? `/${id}` : ""}${action ? `/${action}` : ""}.`,
  );
}

async function startRollout(
  request: HttpRequest,
  client: DurableClient,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  // 1. Validate.
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    return problem(400, "BadRequest", "The body must be a JSON object.", "(body)");
  }
  const parsed = rolloutRequestSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = formatPath(issue?.path ?? []) || "(body)";
    const message =
      issue?.code === "unrecognized_keys"
        ? `Unknown field(s) ${issue.keys.join(", ")}.`
        : `Field ${field} ${issue?.message ?? "is invalid"}.`;
    return problem(400, "BadRequest", message, issue?.code === "unrecognized_keys" ? issue.keys[0] : field);
  }
  const config = appConfig();
  const req = parsed.data;
  const vaultName = allowedVault(config, req.vault);
  if (!vaultName)
    return problem(
      400,
      "BadRequest",
      `Field vault: '${req.vault}' is not one of ALLOWED_VAULT_URLS.`,
      "vault",
    );
  if (req.version && req.renew)
    return problem(400, "BadRequest", "Field renew cannot be true when a version is given.", "renew");
  const certificate = { vaultName, certificateName: req.certificate };
  const instanceId = rotationInstanceId(certificate);

  // 2. One rollout per certificate.
  const existing = await findStatus(client, instanceId);
  if (isRunning(existing)) {
    return problem(
      409,
      "RolloutRunning",
      `Rollout ${instanceId} of ${vaultName}/${req.certificate} is running; cancel it or wait.`,
    );
  }

  // 3. Start it.
  const input: RotationInput = {
    certificate,
    request: {
      kind: "manual",
      ...(req.version ? { version: req.version } : {}),
      ...(req.targets ? { targets: req.targets } : {}),
      dryRun: req.dryRun ?? false,
      renew: req.renew ?? false,
    },
    trigger: {
      kind: "manual",
      detail: `POST /api/rollouts${req.version ? ` version ${req.version}` : req.renew ? " renew" : ""}${req.targets ? ` targets ${req.targets.join(", ")}` : ""}${req.dryRun ? " (dry run)" : ""}`,
      requestId: randomUUID(),
    },
    policy: rolloutPolicyFrom(config),
  };
  const requestId = input.trigger.requestId as string;
  const attempted = Date.now();
  try {
    await client.startNew("rotateCertificate", { instanceId, input });
  } catch (error) {
    // Another request is starting it this very moment: wait for that instance to show.
    const other = await confirmStart(client, instanceId, requestId).catch(() => undefined);
    const theirs =
      other &&
      !other.ours &&
      (isRunning(other.status) || new Date(other.status.createdTime).getTime() >= attempted - 5_000);
    if (theirs)
      return problem(
        409,
        "RolloutRunning",
        `Rollout ${instanceId} of ${vaultName}/${req.certificate} is running (${other.by}).`,
      );
    throw error;
  }

  // 4. Confirm the instance runs this request (two starts can both return on Azure Storage).
  const confirmed = await confirmStart(client, instanceId, requestId);
  if (!confirmed.ours) {
    context.log(`Request ${requestId} for ${instanceId}: superseded by ${confirmed.by}.`);
    return problem(
      409,
      "RolloutRunning",
      `Rollout ${instanceId} of ${vaultName}/${req.certificate} was started by another request at the same time (${confirmed.by}); this one did not start.`,
    );
  }
  context.log(`Started ${instanceId} (request ${requestId}): ${input.trigger.detail}.`);
  // Links by run id when the rollout has reported it (they keep naming this rollout after the next).
  const started = reportOf(confirmed.status);
  const links = rolloutLinks(request, instanceId, started ? runIdOf(started) : undefined);
  return json(202, { ...links, requestId }, { location: links.statusQueryGetUri, "retry-after": "5" });
}

/**
 * The links a caller gets for a rollout: our own routes only. The Durable management URLs
 * (`createHttpManagementPayload`) carry the extension's system key, which also terminates, purges
 * and raises events on any instance; a function-key holder never gets them. Cancel is the way to
 * stop a rollout (it rolls back); terminating would leave targets half changed.
 */
function rolloutLinks(request: HttpRequest, id: string, runId?: string) {
  const base = `${new URL(request.url).origin}/api/rollouts/${encodeURIComponent(runId ?? id)}`;
  return {
    id,
    ...(runId ? { runId } : {}),
    statusQueryGetUri: withCode(`${base}/status`, request),
    reportUri: withCode(base, request),
    cancelPostUri: withCode(`${base}/cancel`, request),
  };
}

/** `GET /api/rollouts/{id}/status`: the runtime status of the rollout and its outcome, if any. */
async function showStatus(client: DurableClient, id: string): Promise<HttpResponseInit> {
  const instanceId = instanceIdOfRun(id) ?? id;
  const status = await findStatus(client, instanceId);
  const live = reportOf(status);
  if (status && live && (instanceId === id || runIdOf(live) === id))
    return json(200, {
      id: instanceId,
      runId: runIdOf(live),
      runtimeStatus: String(status.runtimeStatus),
      createdTime: status.createdTime,
      lastUpdatedTime: status.lastUpdatedTime,
      ...(live.outcome ? { outcome: live.outcome } : {}),
    });
  if (status && !live && instanceId === id)
    return json(200, {
      id,
      runtimeStatus: String(status.runtimeStatus),
      createdTime: status.createdTime,
      lastUpdatedTime: status.lastUpdatedTime,
    });
  const audited = await auditedReport(id);
  if (!audited) return problem(404, "NotFound", `No rollout ${id}.`);
  return json(200, {
    id: audited.instanceId,
    runId: runIdOf(audited),
    runtimeStatus: audited.outcome ? "Completed" : "Unknown",
    ...(audited.outcome ? { outcome: audited.outcome } : {}),
  });
}

/**
 * The report of `id`: a run id (`<instanceId>@<startedAt>`, `report.runId`) names one rollout; an
 * instance id names the certificate's latest. The running or last instance answers first (live
 * progress); older runs come from the audit table.
 */
async function reportFor(client: DurableClient, id: string): Promise<RolloutReport | undefined> {
  const instanceId = instanceIdOfRun(id) ?? id;
  const live = await liveReport(client, instanceId);
  if (live && (instanceId === id || runIdOf(live) === id)) {
    // A running rollout's custom status shows only a few targets (Durable caps it at 16 KB); the whole
    // report as of the last finished stage is in its audit row, with the live counts beside it.
    const summary = (live as { summary?: { targets: number; shown: number } }).summary;
    if (summary && summary.shown < summary.targets) {
      const full = await auditedReport(runIdOf(live));
      if (full) return { ...withLiveStages(full, live), progress: summary } as RolloutReport;
    }
    return live;
  }
  return auditedReport(id);
}

/**
 * The audited report of a running rollout with what the live report knows since the audit row was
 * written: a stage the row still shows pending but the live report shows started takes the live
 * status and times, and the targets the live view shows (bounded) replace theirs; the others keep
 * the row's entries. Without it the stage running now reads "pending, before: unknown" even after
 * it wrote its targets.
 */
function withLiveStages(full: RolloutReport, live: RolloutReport): RolloutReport {
  return {
    ...full,
    stages: full.stages.map((stage) => {
      const now = live.stages.find((s) => s.index === stage.index);
      if (stage.status !== "pending" || !now?.startedAt) return stage;
      const shown = new Map(now.targets.map((t) => [t.stepId, t]));
      return {
        ...stage,
        status: now.status,
        startedAt: now.startedAt,
        ...(now.finishedAt ? { finishedAt: now.finishedAt } : {}),
        ...(now.failure ? { failure: now.failure } : {}),
        targets: stage.targets.map((t) => shown.get(t.stepId) ?? t),
      };
    }),
  };
}

async function showRollout(
  request: HttpRequest,
  client: DurableClient,
  id: string,
): Promise<HttpResponseInit> {
  const report = await reportFor(client, id);
  if (!report) return problem(404, "NotFound", `No rollout ${id}.`);
  if ((request.headers.get("accept") ?? "").includes("text/plain")) {
    return {
      status: 200,
      body: renderReport(report),
      headers: { "content-type": "text/plain; charset=utf-8" },
    };
  }
  return json(200, report);
}

async function cancelRollout(
  client: DurableClient,
  runOrInstanceId: string,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const id = instanceIdOfRun(runOrInstanceId) ?? runOrInstanceId;
  const status = await findStatus(client, id);
  if (!status) return problem(404, "NotFound", `No rollout ${runOrInstanceId}.`);
  const running = reportOf(status);
  if (!isRunning(status) || (id !== runOrInstanceId && running && runIdOf(running) !== runOrInstanceId))
    return problem(
      409,
      "NotRunning",
      `Rollout ${runOrInstanceId} is not running (the certificate's rollout ${running ? runIdOf(running) : id} is ${String(status.runtimeStatus)}); there is nothing to cancel.`,
    );
  // Decided, only recording and publishing its outcome: nothing would hear the cancel any more.
  if (running?.outcome)
    return problem(
      409,
      "NotRunning",
      `Rollout ${runIdOf(running)} has already ended ${running.outcome.state} (${running.outcome.reason}) and is only recording its outcome; the cancel arrived too late.`,
    );
  await client.raiseEvent(id, "cancel", { requestedAt: new Date().toISOString() });
  // A stage waiting for its probes hears it too.
  const report = await liveReport(client, id);
  for (const stageId of report ? runningStageIds(report) : []) {
    if (isRunning(await findStatus(client, stageId))) await client.raiseEvent(stageId, "cancel", {});
  }
  context.log(`Cancel requested for ${id}.`);
  return json(202, { id, status: "cancelRequested" });
}

/** The summary columns of an audit row plus its report; `report` is undefined when unreadable. */
type AuditRecord = Record<string, unknown> & { report?: RolloutReport };

/** One audit row as the API shows it: its summary columns and the joined report. */
function auditRecordOf(entity: Record<string, unknown>): AuditRecord {
  const record: AuditRecord = {};
  for (const [k, v] of Object.entries(entity)) {
    if (k === "etag" || k.startsWith("odata") || /^report\d+$/.test(k)) continue;
    record[k] = v;
  }
  try {
    record.report = auditReportOf(entity);
  } catch {
    // A row without readable report columns: the summary columns still say what happened.
  }
  return record;
}

const startedAtOf = (r: AuditRecord): string => (typeof r.startedAt === "string" ? r.startedAt : "");
const newestFirst = (a: AuditRecord, b: AuditRecord) => startedAtOf(b).localeCompare(startedAtOf(a));

/**
 * The audit partitions `certificate` names: `vault/name` (vault name or URL) is one partition; a bare
 * name is that certificate in each allowed vault. Undefined when `certificate` names no allowed vault.
 */
function auditPartitions(certificate: string): string[] | undefined {
  const config = appConfig();
  const slash = certificate.lastIndexOf("/");
  if (slash < 0)
    return allowedVaultNames(config).map((vaultName) =>
      auditPartitionKey({ vaultName, certificateName: certificate.trim() }),
    );
  const vaultName = allowedVault(config, certificate.slice(0, slash));
  return vaultName
    ? [auditPartitionKey({ vaultName, certificateName: certificate.slice(slash + 1).trim() })]
    : undefined;
}

/** Audit rows matching `filter` (an OData filter), newest first. */
async function auditRecords(filter?: string): Promise<AuditRecord[]> {
  const table = await composition().auditTable();
  const records: AuditRecord[] = [];
  for await (const entity of table.listEntities(filter ? { queryOptions: { filter } } : {}))
    records.push(auditRecordOf(entity));
  return records.sort(newestFirst);
}

/** The audit rows of a certificate's partitions, newest first. */
async function certificateAuditRecords(partitions: string[], extra?: string): Promise<AuditRecord[]> {
  const all = await Promise.all(
    partitions.map((pk) =>
      auditRecords(extra ? `${odata`PartitionKey eq ${pk}`} and ${extra}` : odata`PartitionKey eq ${pk}`),
    ),
  );
  return all.flat().sort(newestFirst);
}

/**
 * The audited report of `id`: a run id names one row (by PartitionKey and RowKey when the
 * certificate can be read from the id); an instance id answers its latest run.
 */
async function auditedReport(id: string): Promise<RolloutReport | undefined> {
  const instanceId = instanceIdOfRun(id) ?? id;
  const certificate = parseRotationInstanceId(instanceId);
  const partitions = certificate ? [auditPartitionKey(certificate)] : undefined;
  if (instanceIdOfRun(id)) {
    const byRow = odata`RowKey eq ${auditRowKey(id)}`;
    const rows = partitions ? await certificateAuditRecords(partitions, byRow) : await auditRecords(byRow);
    return rows[0]?.report;
  }
  const byInstance = odata`instanceId eq ${id}`;
  const rows = partitions
    ? await certificateAuditRecords(partitions, byInstance)
    : await auditRecords(byInstance);
  return rows.find((r) => r.report)?.report;
}

async function listRollouts(request: HttpRequest): Promise<HttpResponseInit> {
  const certificate = request.query.get("certificate")?.trim();
  if (!certificate) return json(200, { value: await auditRecords() });
  const partitions = auditPartitions(certificate);
  if (!partitions)
    return problem(
      400,
      "BadRequest",
      `Query certificate: '${certificate}' names no vault of ALLOWED_VAULT_URLS.`,
      "certificate",
    );
  return json(200, { value: await certificateAuditRecords(partitions) });
}

/** The inventory scan's instance id: one at a time, shared by every caller. */
export const INVENTORY_INSTANCE_ID = "inventory";

/** A completed inventory younger than this is answered as is (`?fresh=true` asks for a new scan). */
export const INVENTORY_MAX_AGE_MS = 5 * 60_000;

/** How long `GET /api/certificates` waits for a running scan before answering 202 with a Location. */
export const INVENTORY_WAIT_MS = 20_000;

/**
 * `GET /api/certificates`: the inventory, from one report-only drift scan under a fixed instance id.
 * A recent completed scan is answered at once; a running one is waited for briefly; otherwise the
 * old scan (and its per-certificate sub-orchestrations) is purged and a new one started. While it
 * runs past the wait: 202 with `Location` (this URL) and `Retry-After`.
 */
export async function certificateInventoryHandler(
  request: HttpRequest,
  client: DurableClient,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const id = INVENTORY_INSTANCE_ID;
  const fresh = request.query.get("fresh") === "true";
  let status = await findStatus(client, id);
  const age = status ? Date.now() - new Date(status.lastUpdatedTime).getTime() : Infinity;
  const reusable =
    status &&
    (isRunning(status) ||
      (String(status.runtimeStatus) === "Completed" && age < INVENTORY_MAX_AGE_MS && !fresh));
  if (!reusable) {
    if (status) await purgeInventory(client, status);
    const config = appConfig();
    const input: DriftScanInput = {
      scheduledFor: new Date().toISOString(),
      jitterSeconds: 0,
      mode: "report",
      policy: rolloutPolicyFrom(config),
    };
    try {
      await client.startNew("driftScan", { instanceId: id, input });
      context.log(`Inventory scan ${id} started.`);
    } catch (error) {
      // Another request started it a moment ago: wait for that one.
      if (!isRunning(await findStatus(client, id))) throw error;
    }
  }
  const deadline = Date.now() + INVENTORY_WAIT_MS;
  for (;;) {
    status = await findStatus(client, id);
    if (status && !isRunning(status)) break;
    if (Date.now() >= deadline) {
      const location = withCode(`${new URL(request.url).origin}/api/certificates`, request);
      return json(
        202,
        { id, status: "running", message: "The inventory scan is running; ask again at the Location." },
        { location, "retry-after": "5" },
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  if (String(status.runtimeStatus) !== "Completed")
    return problem(500, "InventoryFailed", `The inventory scan ${id} ended ${String(status.runtimeStatus)}.`);
  return json(200, inventoryOf(status.output as DriftScanOutput));
}

/** Purges an ended inventory scan and the per-certificate sub-orchestrations its output names. */
async function purgeInventory(client: DurableClient, status: DurableOrchestrationStatus): Promise<void> {
  if (isRunning(status)) return;
  const output = status.output as Partial<DriftScanOutput> | null | undefined;
  const children = (output?.certificates ?? []).map((c) =>
    driftCertificateInstanceId(status.instanceId, c.certificate),
  );
  for (const child of children) await client.purgeInstanceHistory(child).catch(() => undefined);
  await client.purgeInstanceHistory(status.instanceId);
}

/** The inventory view of a report-only scan. */
function inventoryOf(scan: DriftScanOutput) {
  return {
    scannedAt: scan.finishedAt,
    warnings: scan.warnings,
    certificates: scan.certificates.map((c) => ({
      vaultName: c.certificate.vaultName,
      certificateName: c.certificate.certificateName,
      currentVersion: c.vault?.version,
      thumbprint: c.vault?.thumbprint,
      expiresOn: c.vault?.expiresOn,
      ...(c.failure ? { failure: c.failure } : {}),
      bindings: c.bindings.map((b) => ({
        bindingId: b.bindingId,
        stage: b.stage,
        description: b.description,
        configured: b.observation?.configured,
        serves: b.observation?.served,
        drift: b.verdict
          ? { classification: b.verdict.classification, message: b.verdict.message }
          : undefined,
      })),
    })),
  };
}

df.app.client.http("manualRollout", {
  route: "rollouts/{id?}/{action?}",
  methods: ["GET", "POST"],
  authLevel: "function",
  handler: manualRolloutHandler,
});

df.app.client.http("certificateInventory", {
  route: "certificates",
  methods: ["GET"],
  authLevel: "function",
  handler: certificateInventoryHandler,
});
