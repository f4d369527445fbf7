/**
 * End to end, an APIM change whose own sending fails for good (ARM answers 500 to every update of the
 * service until every automatic retry is spent): the change must not stay claimed in the service's
 * queue, where the next lease holder — another rollout — would send it after this rollout has ended,
 * and the rollout must roll back from the snapshot its update kept (it ends RolledBack, verified by a
 * handshake, not NeedsAttention for want of a snapshot).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { apimServiceId } from "../../emulator/lab/seed.js";
import { queuePartition } from "../../src/azure/apimQueue.js";
import { explain, holdFault, listInstances, locksTable, newVersion, startRollout } from "../support/e2e.js";
import { startWorld, type World } from "../support/world.js";

const VAULT = "kv-contoso";
const CERTIFICATE = "apim-gateway";
const HOST = "apim.contoso.test";

describe("an APIM update that cannot be sent", () => {
  let world: World;
  before(async () => {
    world = await startWorld({ subscribeEvents: false });
  });
  after(async () => {
    await world?.stop();
  });

  /** Every queued change of the seeded service: request id and state. */
  const queued = async () => {
    const table = locksTable(world);
    const rows: { requestId: string; state: string }[] = [];
    const filter = `PartitionKey eq '${queuePartition(apimServiceId(world.lab.ctx.seed))}'`;
    for await (const e of table.listEntities<{ requestId: string; state: string }>({
      queryOptions: { filter },
    }))
      rows.push({ requestId: e.requestId, state: e.state });
    return rows;
  };

  it("leaves nothing claimed in the queue and rolls back from the kept snapshot", async () => {
    const before = await world.served(HOST);
    const lift = await holdFault(world.lab, {
      service: "arm",
      kind: "status",
      status: 500,
      code: "InternalServerError",
      match: "^PATCH .*Microsoft\\.ApiManagement/service/[^/]+$",
    });
    try {
      const id = await startRollout(world, {
        vault: VAULT,
        certificate: CERTIFICATE,
        version: (await newVersion(world, CERTIFICATE)).version,
        targets: ["apim"],
      });
      // The rollout's own change ends (every retry of its update threw) while ARM still refuses.
      await world.waitFor(
        "the rollout's APIM change to end",
        async () =>
          (await listInstances(world)).find(
            (i) =>
              i.instanceId.startsWith(id) &&
              !i.instanceId.includes(":rollback") &&
              /:t\d+:q$/.test(i.instanceId) &&
              i.runtimeStatus !== "Running" &&
              i.runtimeStatus !== "Pending",
          ),
        120_000,
      );
      await lift();
      const report = await world.waitForRollout(id, 120_000);
      const left = (await queued()).filter((q) => q.state === "pending" || q.state === "claimed");
      assert.equal(report.outcome?.state, "RolledBack", `${explain(report)}\nleft: ${JSON.stringify(left)}`);
      assert.deepEqual(left, [], "no change is left for another rollout's update to send");
      assert.ok(
        report.rollback?.actions.length && report.rollback.actions.every((a) => a.verified),
        JSON.stringify(report.rollback),
      );
      assert.deepEqual(await world.served(HOST), before, "the previous certificate is served");
    } finally {
      await lift();
    }
  });
});
