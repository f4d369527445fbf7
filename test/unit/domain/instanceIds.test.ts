import { test } from "node:test";
import assert from "node:assert/strict";
import {
  MAX_INSTANCE_ID_LENGTH,
  driftScanInstanceId,
  fitInstanceId,
  idSegment,
  isValidInstanceId,
  parseRotationInstanceId,
  resourceLockId,
  rollbackInstanceId,
  rotationInstanceId,
  stageInstanceId,
} from "../../../src/domain/instanceIds.js";
import { ids } from "../../support/bindingBuilders.js";

const rotationCases: { name: string; vault: string; cert: string; expected: string }[] = [
  {
    name: "a rotation id is rotate:<vault>:<certificate>",
    vault: "kv-lab",
    cert: "api-contoso",
    expected: "rotate:kv-lab:api-contoso",
  },
  {
    name: "rotation ids are lower case whatever the event said",
    vault: "KV-Lab",
    cert: "Api-Contoso",
    expected: "rotate:kv-lab:api-contoso",
  },
  {
    name: "padding around names does not change the id",
    vault: " kv-lab",
    cert: "api-contoso ",
    expected: "rotate:kv-lab:api-contoso",
  },
  {
    name: "characters Durable forbids are encoded, not passed through",
    vault: "kv/lab",
    cert: "a#b?c\\d",
    expected: "rotate:kv~2f~lab:a~23~b~3f~c~5c~d",
  },
];

for (const c of rotationCases) {
  test(c.name, () => {
    const id = rotationInstanceId({ vaultName: c.vault, certificateName: c.cert });
    assert.equal(id, c.expected);
    assert.ok(isValidInstanceId(id));
  });
}

test("a rotation id reads back to its certificate", () => {
  const ref = { vaultName: "kv-lab", certificateName: "api-contoso" };
  assert.deepEqual(parseRotationInstanceId(rotationInstanceId(ref)), ref);
  assert.equal(parseRotationInstanceId("drift:2026"), undefined);
});

test("a certificate name near Key Vault's 127-character limit still gives a valid, distinct id", () => {
  const long = "c".repeat(126);
  const a = rotationInstanceId({ vaultName: "kv-lab", certificateName: `${long}a` });
  const b = rotationInstanceId({ vaultName: "kv-lab", certificateName: `${long}b` });
  assert.equal(a.length, MAX_INSTANCE_ID_LENGTH);
  assert.ok(isValidInstanceId(a) && isValidInstanceId(b));
  assert.notEqual(a, b);
  assert.equal(
    a,
    rotationInstanceId({ vaultName: "KV-LAB", certificateName: `${long}A` }),
    "still deterministic",
  );
});

test("segments that differ only in forbidden characters stay distinct", () => {
  assert.notEqual(idSegment("a/b"), idSegment("a\\b"));
  assert.notEqual(idSegment("a/b"), idSegment("a-b"));
});

test("stage and rollback ids extend the rotation id and differ per version and stage", () => {
  const root = rotationInstanceId({ vaultName: "kv-lab", certificateName: "api-contoso" });
  const s1 = stageInstanceId(root, "ee059b2bb5bc48398a53b168c6cdcb10", 1, "kubernetes");
  assert.equal(s1, "rotate:kv-lab:api-contoso:ee059b2bb5bc:stage-1-kubernetes");
  assert.notEqual(s1, stageInstanceId(root, "ee059b2bb5bc48398a53b168c6cdcb10", 2, "apim"));
  assert.notEqual(s1, stageInstanceId(root, "0123456789ab0000", 1, "kubernetes"));
  assert.equal(rollbackInstanceId(root, "EE059B2BB5BC48398A53B168C6CDCB10"), `${root}:ee059b2bb5bc:rollback`);
  assert.ok(isValidInstanceId(stageInstanceId(fitInstanceId("x".repeat(200)), "v", 3, "frontDoor")));
});

test("two timer firings within the same minute give one drift scan id", () => {
  const a = driftScanInstanceId(new Date("2026-06-01T12:00:05Z"));
  assert.equal(a, "drift:2026-06-01t12-00");
  assert.equal(a, driftScanInstanceId(new Date("2026-06-01T12:00:59Z")));
  assert.notEqual(a, driftScanInstanceId(new Date("2026-06-01T12:01:00Z")));
  assert.ok(isValidInstanceId(a));
});

test("two spellings of one APIM service id share one lock, another service gets another", () => {
  const a = resourceLockId(ids.apim());
  assert.equal(a, resourceLockId(`${ids.apim().toUpperCase()}/`));
  assert.notEqual(a, resourceLockId(ids.apim("other")));
  assert.match(a, /-apim-lab$/);
  assert.ok(isValidInstanceId(a));
});

const validityCases: { name: string; id: string; valid: boolean }[] = [
  { name: "an empty id is invalid", id: "", valid: false },
  { name: "an id starting with @ is invalid (entity ids)", id: "@lock@x", valid: false },
  { name: "a slash is invalid", id: "a/b", valid: false },
  { name: "a control character is invalid", id: "a\u0001b", valid: false },
  { name: "101 characters is too long", id: "a".repeat(101), valid: false },
  { name: "100 plain characters is fine", id: "a".repeat(100), valid: true },
];
for (const c of validityCases) {
  test(c.name, () => assert.equal(isValidInstanceId(c.id), c.valid));
}
