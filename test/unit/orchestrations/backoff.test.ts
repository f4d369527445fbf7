/**
 * Backoff of polls and busy writes: doubles from the first interval to the cap, never below the
 * floor, jitter the same on every replay, a Retry-After of 1 s no longer means a call per second.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backoffSeconds, busyWaitSeconds, unitHash } from "../../../src/orchestrations/backoff.js";

describe("backoff", () => {
  it("doubles from the first interval up to the cap, within the jitter", () => {
    const b = { firstSeconds: 2, capSeconds: 300 };
    for (const [attempt, nominal] of [
      [0, 2],
      [1, 4],
      [3, 16],
      [7, 256],
      [8, 300],
      [30, 300],
    ] as const) {
      const w = backoffSeconds(attempt, b, "rotate:kv:cert:w1");
      assert.ok(w >= nominal * 0.8 - 1e-9 && w <= Math.min(300, nominal * 1.2) + 1e-9, `${attempt}: ${w}`);
    }
  });

  it("is deterministic per seed and attempt, and differs between seeds", () => {
    const b = { firstSeconds: 10, capSeconds: 300 };
    assert.equal(backoffSeconds(3, b, "a"), backoffSeconds(3, b, "a"));
    const spread = new Set(["a", "b", "c", "d", "e"].map((s) => backoffSeconds(3, b, s)));
    assert.ok(spread.size > 1, "jitter spreads instances apart");
    for (const s of ["", "x", "rotate:kv:cert"]) {
      const u = unitHash(s);
      assert.ok(u >= 0 && u < 1);
    }
  });

  it("a busy write waits at least the floor, longer each time, and honours a longer Retry-After", () => {
    const b = { firstSeconds: 5, capSeconds: 300, floorSeconds: 5 };
    const said1 = { retryAfterSeconds: 1, retryAfterSource: "service" as const };
    const waits = Array.from({ length: 12 }, (_, n) => busyWaitSeconds(n, said1, b, "seed"));
    assert.ok(
      waits.every((w) => w >= 5),
      waits.join(", "),
    );
    // 12 attempts cover far more than 12 s: Retry-After 1 no longer means 1,800 rounds in 30 minutes.
    assert.ok(waits.reduce((a, w) => a + w, 0) > 600, waits.join(", "));
    assert.equal(busyWaitSeconds(0, { retryAfterSeconds: 120, retryAfterSource: "service" }, b, "seed"), 120);
    assert.ok(busyWaitSeconds(0, { retryAfterSeconds: 120, retryAfterSource: "default" }, b, "seed") < 10);
  });
});
