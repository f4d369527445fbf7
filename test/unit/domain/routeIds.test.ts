import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { certificateRouteProblem, rolloutIdProblem } from "../../../src/domain/routeIds.js";

describe("route ids", () => {
  const cases: [string, string, boolean][] = [
    ["a rotation instance id is a rollout id", "rotate:kv-contoso:edge-contoso", true],
    ["a run id is a rollout id", "rotate:kv-contoso:edge-contoso@2025-01-02T03:04:05.678Z", true],
    ["an escaped or shortened instance id is a rollout id", "rotate:kv:a~40~b.c_d", true],
    ["a word is not", "nope", false],
    ["a run id with no time is not", "rotate:kv:x@yesterday", false],
    ["an id with a space is not", "rotate:kv:a b", false],
    ["an id with a slash is not", "rotate:kv:a/b", false],
    ["an id longer than any run id is not", `rotate:kv:${"x".repeat(200)}`, false],
    ["an id of another orchestration is not", "drift:scan", false],
  ];
  for (const [name, id, ok] of cases)
    it(name, () => {
      const problem = rolloutIdProblem(id);
      if (ok) assert.equal(problem, undefined);
      else assert.match(problem ?? "", /^Route id "/);
    });

  it("a vault or certificate route value that is no Key Vault name is named with its field", () => {
    assert.equal(certificateRouteProblem("kv-contoso", "edge-contoso"), undefined);
    assert.equal(certificateRouteProblem("k", "edge")?.field, "vault");
    assert.equal(certificateRouteProblem("kv-contoso", "edge..x")?.field, "certificate");
  });
});
