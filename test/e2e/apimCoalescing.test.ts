/**
 * End to end, APIM updates of concurrent rollouts coalesce: while one rollout's update of the shared
 * APIM service is still running (held Updating by a lab fault), two more rollouts of other
 * certificates on the same service queue their changes; once the first update provisions, ONE update
 * carries both. Three certificates, two infrastructure updates, none refused (no 409), every
 * rollout Succeeded and every gateway hostname serving its new certificate in a real handshake.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BenchTopology, benchNames } from "../../bench/rollout/topology.js";
import { STREAMED } from "../../emulator/lab/core/http.js";
import { apimServiceId } from "../../emulator/lab/seed.js";
import { queuePartition } from "../../src/azure/apimQueue.js";
import type { RolloutReport } from "../../src/domain/report.js";
import { holdFault, locksTable, startRollout } from "../support/e2e.js";
import { startWorld, type World } from "../support/world.js";

const VAULT = "kv-contoso";

describe("APIM updates of concurrent rollouts", () => {
  let world: World;
  let topology: BenchTopology;
  const writes: string[] = [];
  const conflicts: string[] = [];
  before(async () => {
    world = await startWorld({
      subscribeEvents: false,
      probeHosts: Object.fromEntries([1, 2, 3].map((i) => [benchNames(i).apimHost, "apim" as const])),
    });
    world.lab.ctx.servers.arm.router.use(async (req, next) => {
      const res = await next();
      if (res === STREAMED) return res;
      if (res.status === 409) conflicts.push(`${req.method} ${req.path}`);
      if (
        /^(PATCH|PUT)$/.test(req.method) &&
        /\/providers\/Microsoft\.ApiManagement\/service\/[^/]+$/i.test(req.path)
      )
        writes.push(`${req.method} ${res.status}`);
      return res;
    });
    topology = new BenchTopology(world.lab);
    await topology.growTo(3);
  });
  after(async () => {
    await world?.stop();
  });

  const start = (certificate: string, version: string) =>
    startRollout(world, { vault: VAULT, certificate, version, targets: ["apim"] });
  const queuedStates = async () => {
    const table = locksTable(world);
    const states: string[] = [];
    const filter = `PartitionKey eq '${queuePartition(apimServiceId(world.lab.ctx.seed))}'`;
    for await (const e of table.listEntities<{ state: string }>({ queryOptions: { filter } }))
      states.push(e.state);
    return states;
  };

  it("sends one update for the changes queued while another update ran", async () => {
    const versions = await topology.newVersions(3);
    const name = (i: number) => benchNames(i).certificate;
    const versionOf = (i: number) => versions.get(name(i)) as string;
    writes.length = 0;
    const release = await holdFault(world.lab, { service: "arm", kind: "apimStuck" });
    try {
      const first = await start(name(1), versionOf(1));
      await world.waitFor(
        "the first update to be sent",
        () => (writes.length === 1 ? true : undefined),
        60_000,
      );
      const others = [await start(name(2), versionOf(2)), await start(name(3), versionOf(3))];
      // Both wait in the queue behind the running update.
      await world.waitFor(
        "two changes queued behind the running update",
        async () => {
          const states = await queuedStates();
          return states.filter((s) => s === "pending").length === 2 && states.includes("claimed")
            ? true
            : undefined;
        },
        60_000,
      );
      assert.equal(writes.length, 1, "nothing else was sent while the service was updating");
      await release();
      const reports: RolloutReport[] = await Promise.all(
        [first, ...others].map((id) => world.waitForRollout(id, 180_000)),
      );
      for (const r of reports)
        assert.equal(r.outcome?.state, "Succeeded", `${r.outcome?.reason}: ${r.outcome?.message}`);
      assert.deepEqual(writes, ["PATCH 202", "PATCH 202"], "three certificates, two updates");
      assert.deepEqual(conflicts, [], "no request was refused with 409");
      for (const [i, r] of reports.entries())
        assert.deepEqual(await world.served(benchNames(i + 1).apimHost), [r.versions.next?.thumbprint]);
    } finally {
      await release();
    }
  });

  it("a rollout cancelled while its change waits in the queue withdraws it: never sent, nothing to roll back", async () => {
    const versions = await topology.newVersions(2);
    const name = (i: number) => benchNames(i).certificate;
    const servedBefore = await world.served(benchNames(2).apimHost);
    writes.length = 0;
    const release = await holdFault(world.lab, { service: "arm", kind: "apimStuck" });
    try {
      const first = await start(name(1), versions.get(name(1)) as string);
      await world.waitFor(
        "the first update to be sent",
        () => (writes.length === 1 ? true : undefined),
        60_000,
      );
      const second = await start(name(2), versions.get(name(2)) as string);
      await world.waitFor(
        "the second change queued behind the running update",
        async () => ((await queuedStates()).filter((s) => s === "pending").length === 1 ? true : undefined),
        60_000,
      );
      const cancel = await world.api("POST", `/api/rollouts/${encodeURIComponent(second)}/cancel`);
      assert.equal(cancel.status, 202, cancel.text);
      const cancelled = await world.waitForRollout(second, 120_000);
      assert.equal(
        cancelled.outcome?.state,
        "Cancelled",
        `${cancelled.outcome?.reason}: ${cancelled.outcome?.message}`,
      );
      assert.deepEqual(
        cancelled.rollback?.actions ?? [],
        [],
        "nothing was written, so nothing is rolled back",
      );
      assert.ok(
        (await queuedStates()).includes("withdrawn") && !(await queuedStates()).includes("pending"),
        "the change was withdrawn",
      );
      await release();
      const done = await world.waitForRollout(first, 180_000);
      assert.equal(done.outcome?.state, "Succeeded", `${done.outcome?.reason}: ${done.outcome?.message}`);
      assert.deepEqual(writes, ["PATCH 202"], "the withdrawn change was never sent");
      assert.deepEqual(
        await world.served(benchNames(2).apimHost),
        servedBefore,
        "the cancelled certificate's host is untouched",
      );
    } finally {
      await release();
    }
  });
});
