import assert from "node:assert/strict";
import { test } from "node:test";
import { OrchestrationRuntimeStatus, type DurableOrchestrationStatus } from "durable-functions";
import type { RotationInput } from "../../../src/orchestrations/policy.js";
import { scheduledOccurrence } from "../../../src/domain/driftTimer.js";
import { decideEvent, olderThanCurrent, type EventDecision } from "../../../src/domain/eventDecision.js";
import { describeRun, startedBy } from "../../../src/domain/rolloutInstance.js";

const INSTANCE = "rotate:kv-contoso:edge-contoso";

/** A rotation instance's status as `getStatus(id, { showInput: true })` answers it. */
function aStatus(
  over: {
    runtimeStatus?: OrchestrationRuntimeStatus;
    trigger?: RotationInput["trigger"];
    request?: RotationInput["request"];
    customStatus?: unknown;
    output?: unknown;
  } = {},
): DurableOrchestrationStatus {
  return {
    name: "rotateCertificate",
    instanceId: INSTANCE,
    createdTime: new Date("2026-06-01T12:00:00Z"),
    lastUpdatedTime: new Date("2026-06-01T12:00:05Z"),
    runtimeStatus: over.runtimeStatus ?? OrchestrationRuntimeStatus.Running,
    input: {
      certificate: { vaultName: "kv-contoso", certificateName: "edge-contoso" },
      request: over.request ?? { kind: "manual", dryRun: false, renew: true },
      trigger: over.trigger ?? { kind: "manual", detail: "POST /api/rollouts renew", requestId: "req-a" },
    },
    output: over.output,
    customStatus: over.customStatus,
  };
}

test("the instance that carries this request's id in its input is ours", () => {
  assert.equal(startedBy(aStatus(), "req-a").ours, true);
});

test("an instance started by another request at the same time is not ours, and is named", () => {
  const seen = startedBy(aStatus(), "req-b");
  assert.equal(seen.ours, false);
  assert.ok(!seen.ours);
  assert.match(
    seen.by,
    /^rotate:kv-contoso:edge-contoso \(created .*\) \[manual: POST \/api\/rollouts renew\] \(Running\)$/,
  );
});

test("a rollout that has reported is named by its run id", () => {
  const report = {
    instanceId: INSTANCE,
    startedAt: "2026-06-01T12:00:01.000Z",
    certificate: { vaultName: "kv-contoso", certificateName: "edge-contoso" },
    trigger: { kind: "manual", detail: "POST /api/rollouts renew" },
    dryRun: false,
    versions: {},
    stages: [],
  };
  assert.match(
    describeRun(aStatus({ customStatus: report })),
    /^rotate:kv-contoso:edge-contoso@2026-06-01T12:00:01\.000Z \[/,
  );
});

test("an instance whose input was started before request ids existed is nobody's request", () => {
  const seen = startedBy(aStatus({ trigger: { kind: "manual", detail: "POST /api/rollouts" } }), "req-a");
  assert.equal(seen.ours, false);
});

const nearExpiry = (version: string, eventId = "evt-1") => ({
  kind: "CertificateNearExpiry" as const,
  eventId,
  version,
  eventTime: new Date("2026-06-01T12:00:00Z"),
});
const newVersion = (version: string) => ({
  ...nearExpiry(version),
  kind: "CertificateNewVersionCreated" as const,
});
const aRunningReport = (next?: string, dryRun = false) => ({
  instanceId: INSTANCE,
  startedAt: "2026-06-01T11:59:00.000Z",
  certificate: { vaultName: "kv-contoso", certificateName: "edge-contoso" },
  trigger: { kind: "manual", detail: "POST /api/rollouts" },
  dryRun,
  versions: next ? { next: { version: next } } : {},
  stages: [],
});
const eventRequest = (
  kind: "CertificateNearExpiry" | "CertificateNewVersionCreated",
  version: string,
): RotationInput["request"] => ({
  kind: "event",
  event: {
    kind,
    eventId: "evt-0",
    version,
    eventTime: "2026-06-01T11:00:00Z",
    vaultName: "kv-contoso",
    certificateName: "edge-contoso",
    vaultUrl: "https://kv-contoso.vault.azure.net",
    objectId: `https://kv-contoso.vault.azure.net/certificates/edge-contoso/${version}`,
    source: {
      id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-contoso",
      subscriptionId: "s",
      resourceGroup: "rg",
      vaultName: "kv-contoso",
    },
    schema: "EventGrid",
  },
});

const eventCases: {
  name: string;
  event: ReturnType<typeof nearExpiry> | ReturnType<typeof newVersion>;
  status?: DurableOrchestrationStatus;
  action: EventDecision["action"];
  reason?: RegExp;
}[] = [
  { name: "no rollout yet: the event starts one", event: nearExpiry("v1"), action: "start" },
  {
    name: "near expiry while a dry run runs: delivered again later (a dry run replaces nothing)",
    event: nearExpiry("v1"),
    status: aStatus({
      request: { kind: "manual", dryRun: true, renew: false },
      customStatus: aRunningReport(undefined, true),
    }),
    action: "redeliver",
    reason: /does not replace the expiring version v1; failing the delivery/,
  },
  {
    name: "near expiry while a repair rolls out the expiring version itself: delivered again later",
    event: nearExpiry("v1"),
    status: aStatus({
      request: { kind: "drift", scanId: "drift:x", version: "v1", targets: ["a"], reason: "ServingStale" },
      customStatus: aRunningReport("v1"),
    }),
    action: "redeliver",
  },
  {
    name: "near expiry while a manual renewal runs: skipped, the renewal replaces the version",
    event: nearExpiry("v1"),
    status: aStatus({ request: { kind: "manual", dryRun: false, renew: true } }),
    action: "skip",
    reason: /replaces version v1: it renews the certificate in Key Vault/,
  },
  {
    name: "near expiry while a renewal for the same expiry runs: skipped",
    event: nearExpiry("v1", "evt-2"),
    status: aStatus({ request: eventRequest("CertificateNearExpiry", "v1") }),
    action: "skip",
  },
  {
    name: "near expiry while a newer version rolls out: skipped",
    event: nearExpiry("v1"),
    status: aStatus({
      request: eventRequest("CertificateNewVersionCreated", "v2"),
      customStatus: aRunningReport("v2"),
    }),
    action: "skip",
    reason: /it rolls out version v2/,
  },
  {
    name: "a new version while another rollout runs: skipped (drift catches it)",
    event: newVersion("v3"),
    status: aStatus({ request: { kind: "manual", dryRun: true, renew: false } }),
    action: "skip",
  },
  {
    name: "the same event again after its rollout ended: skipped",
    event: nearExpiry("v1", "evt-0"),
    status: aStatus({
      runtimeStatus: OrchestrationRuntimeStatus.Completed,
      output: {
        ...aRunningReport("v2"),
        trigger: { kind: "event", detail: "x", requestId: "evt-0" },
        outcome: { state: "RolledBack", reason: "r", message: "m" },
      },
    }),
    action: "skip",
    reason: /delivered again/,
  },
];

for (const c of eventCases) {
  test(c.name, () => {
    const d = decideEvent(c.event, c.status);
    assert.equal(d.action, c.action, JSON.stringify(d));
    if (c.reason) assert.match(d.action === "start" ? "" : d.reason, c.reason);
  });
}

test("a timer run is named by the occurrence it runs for, not the second it started in", () => {
  const occurrence = "2026-06-01T12:00:00.000Z";
  const timer = (last: string, isPastDue = false) => ({ isPastDue, scheduleStatus: { last, next: "x" } });
  const at = (iso: string) => new Date(iso);
  for (const now of ["2026-06-01T12:00:00.400Z", "2026-06-01T12:01:02.000Z"])
    assert.equal(scheduledOccurrence(timer(occurrence), at(now)).toISOString(), occurrence, now);
  assert.equal(
    scheduledOccurrence(timer(occurrence, true), at("2026-06-01T15:00:00Z")).toISOString(),
    occurrence,
    "a past-due run is the missed occurrence",
  );
  const byHand = at("2026-06-01T15:00:00Z");
  assert.equal(scheduledOccurrence(timer(occurrence), byHand), byHand, "a run by hand long after is now");
  assert.equal(scheduledOccurrence(timer("0001-01-01T00:00:00Z"), byHand), byHand);
  assert.equal(scheduledOccurrence(undefined, byHand), byHand);
});

test("a new version created before the vault's current one is late and not rolled out", () => {
  const t = (iso: string) => new Date(iso);
  assert.match(
    olderThanCurrent(
      { version: "v1", createdOn: t("2026-06-01T10:00:00Z") },
      { version: "v2", createdOn: t("2026-06-01T11:00:00Z") },
    ) ?? "",
    /version v1 .* is older than the vault's current version v2/,
  );
  assert.equal(
    olderThanCurrent({ version: "v2", createdOn: t("2026-06-01T11:00:00Z") }, { version: "V2" }),
    undefined,
    "the current version itself",
  );
  assert.equal(
    olderThanCurrent(
      { version: "v3", createdOn: t("2026-06-01T12:00:00Z") },
      { version: "v2", createdOn: t("2026-06-01T11:00:00Z") },
    ),
    undefined,
    "newer than current (current read before it settled)",
  );
});
