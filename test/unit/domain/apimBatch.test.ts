import assert from "node:assert/strict";
import { test } from "node:test";
import {
  MAX_BATCH,
  pickBatch,
  settle,
  type ApimChange,
  type QueuedApimChange,
} from "../../../src/domain/apimBatch.js";

const KV = "https://kv.vault.azure.net/secrets";

function change(n: number, opts: Partial<ApimChange> = {}): ApimChange {
  return {
    requestId: `r${n}|s|apply`,
    rotationId: `r${n}`,
    stepId: "s",
    kind: "apply",
    hostnames: [{ type: "Proxy", hostName: `h${n}.contoso.test`, keyVaultId: `${KV}/c${n}/v2` }],
    certificates: [],
    ...opts,
  };
}

function queued(
  n: number,
  opts: Partial<QueuedApimChange> = {},
  c: Partial<ApimChange> = {},
): QueuedApimChange {
  return {
    change: change(n, c),
    state: "pending",
    queuedAt: `2026-11-28T00:00:${String(n).padStart(2, "0")}.000Z`,
    solo: false,
    attemptedWrite: false,
    ...opts,
  };
}

const ids = (batch: QueuedApimChange[]) => batch.map((q) => q.change.rotationId);

test("every pending change goes in one update, first come first served", () => {
  assert.deepEqual(ids(pickBatch([queued(3), queued(1), queued(2)], "u#1")), ["r1", "r2", "r3"]);
});

test("settled and withdrawn changes stay out; changes another update claimed are resent", () => {
  const batch = pickBatch(
    [
      queued(1, { state: "done" }),
      queued(2, { state: "failed" }),
      queued(3, { state: "withdrawn" }),
      queued(4, { state: "claimed", updateId: "old#1" }),
      queued(5),
    ],
    "u#1",
  );
  assert.deepEqual(ids(batch), ["r4", "r5"]);
});

test("a rerun of the same update resends exactly what it claimed", () => {
  const batch = pickBatch([queued(1, { state: "claimed", updateId: "u#1" }), queued(2)], "u#1");
  assert.deepEqual(ids(batch), ["r1"]);
});

test("rollbacks go first", () => {
  const batch = pickBatch([queued(1), queued(2, {}, { kind: "restore", requestId: "r2|s|restore" })], "u#1");
  assert.deepEqual(ids(batch), ["r2", "r1"]);
});

test("a solo change first in line goes alone; solo changes later in line wait", () => {
  assert.deepEqual(ids(pickBatch([queued(1, { solo: true }), queued(2), queued(3)], "u#1")), ["r1"]);
  assert.deepEqual(ids(pickBatch([queued(1), queued(2, { solo: true }), queued(3)], "u#1")), ["r1", "r3"]);
});

test("two changes to one entry never go in one update (the later waits)", () => {
  const same = { hostnames: [{ type: "proxy", hostName: "H1.contoso.test.", keyVaultId: `${KV}/c1/v3` }] };
  assert.deepEqual(ids(pickBatch([queued(1), queued(2, {}, same), queued(3)], "u#1")), ["r1", "r3"]);
  const entity = { certificates: [{ certificateId: "client", secretIdentifier: `${KV}/x/1` }] };
  assert.deepEqual(ids(pickBatch([queued(1, {}, entity), queued(2, {}, entity)], "u#1")), ["r1"]);
});

test("an update carries at most MAX_BATCH changes", () => {
  const many = Array.from({ length: MAX_BATCH + 5 }, (_, i) => queued(i));
  assert.equal(pickBatch(many, "u#1").length, MAX_BATCH);
});

test("settling: done, abandoned, and failures isolated only when the update carried several", () => {
  const q = queued(1, { state: "claimed", updateId: "u#1", attemptedWrite: true });
  assert.equal(settle(q, { status: "done" }, 3).state, "done");
  assert.deepEqual(settle(q, { status: "abandoned" }, 3), { state: "pending", solo: false });
  const refused = { status: "failed" as const, reason: "Bad", message: "m", isolate: true };
  assert.deepEqual(settle(q, refused, 3), { state: "pending", solo: true });
  assert.deepEqual(settle(q, refused, 1), { state: "failed", solo: false, reason: "Bad", message: "m" });
  assert.equal(settle(q, { ...refused, isolate: false }, 3).state, "failed", "a timeout fails them all");
});
