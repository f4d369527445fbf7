import assert from "node:assert/strict";
import { test } from "node:test";
import { OrchestrationRuntimeStatus, type DurableOrchestrationStatus } from "durable-functions";
import type { RotationInput } from "../../../src/orchestrations/policy.js";
import { describeRun, startedBy } from "../../../src/orchestrations/triggerSupport.js";

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
