/**
 * End to end, a change that waits long for its APIM service: another holder keeps the service's
 * lease, so the rollout's change waits in the queue through several executions of its `apimChange`
 * instance (WAIT_ROUNDS_PER_EXECUTION=2: it continues as new every two turns, carrying where it is),
 * (the report shows the APIM target waiting, and for whom) and goes out once the lease is free:
 * Succeeded, served in a real handshake. A cancel that arrives
 * after it continued as new still reaches it: the change is withdrawn, nothing is written.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { apimServiceId } from "../../emulator/lab/seed.js";
import { LOCK_PARTITION } from "../../src/azure/leases.js";
import { resourceLockId } from "../../src/domain/instanceIds.js";
import type { RolloutReport } from "../../src/domain/report.js";
import { explain, listInstances, locksTable, newVersion, startRollout } from "../support/e2e.js";
import { startWorld, type World } from "../support/world.js";

const VAULT = "kv-contoso";
const CERTIFICATE = "apim-gateway";
const HOST = "apim.contoso.test";

type Instance = Awaited<ReturnType<typeof listInstances>>[number];

describe("a change waiting long for its APIM service", () => {
  let world: World;
  before(async () => {
    world = await startWorld({ subscribeEvents: false, settings: { WAIT_ROUNDS_PER_EXECUTION: "2" } });
  });
  after(async () => {
    await world?.stop();
  });

  /** Another holder takes the service's lease for ten minutes; answers how to free it (once). */
  const holdLease = async () => {
    const locks = locksTable(world);
    await locks.createTable();
    const serviceId = apimServiceId(world.lab.ctx.seed);
    const lease = {
      partitionKey: LOCK_PARTITION,
      rowKey: resourceLockId(serviceId),
      resourceKey: serviceId,
      owner: "another-holder",
      expiresAt: new Date(Date.now() + 10 * 60_000).toISOString(),
    };
    await locks.upsertEntity(lease, "Replace");
    let freed = false;
    return async () => {
      if (freed) return;
      freed = true;
      await locks.deleteEntity(lease.partitionKey, lease.rowKey);
    };
  };
  /** Starts a rollout of a new version to APIM only; answers its id and how to find its queued change. */
  const startApimRollout = async () => {
    const changes = async () => (await listInstances(world)).filter((i) => i.instanceId.endsWith(":q"));
    const earlier = new Set((await changes()).map((i) => i.instanceId));
    const id = await startRollout(world, {
      vault: VAULT,
      certificate: CERTIFICATE,
      version: (await newVersion(world, CERTIFICATE)).version,
      targets: ["apim"],
    });
    // This run's change (the certificate's earlier runs left theirs).
    const queuedChange = async () =>
      (await changes()).find((i) => i.instanceId.startsWith(id) && !earlier.has(i.instanceId));
    return { id, queuedChange };
  };
  /** The rollout's queued change in its third execution, still waiting for the other holder. */
  const waitingInThirdExecution = (queuedChange: () => Promise<Instance | undefined>) =>
    world.waitFor(
      "the queued change in its third execution, still waiting for the other holder",
      async () => {
        const change = await queuedChange();
        const status = change?.customStatus as
          { state?: string; heldBy?: string; generation?: number } | undefined;
        return status && (status.generation ?? 0) >= 2 && status.state === "waiting"
          ? { change, status }
          : undefined;
      },
      90_000,
    );

  it("waits through several executions while another holder has the lease, then goes out", async () => {
    const free = await holdLease();
    const { id, queuedChange } = await startApimRollout();
    try {
      const waiting = await waitingInThirdExecution(queuedChange);
      assert.equal(waiting.status.heldBy, "another-holder");
      assert.equal(waiting.change?.runtimeStatus, "Running");
      // The report says where the APIM target is: waiting, and for whom.
      const shown = await world.api("GET", `/api/rollouts/${encodeURIComponent(id)}`);
      assert.equal(shown.status, 200, shown.text);
      const target = (shown.body as RolloutReport).stages
        .flatMap((st) => st.targets)
        .find((t) => t.kind === "apimService");
      assert.equal(target?.status, "pending", JSON.stringify(target));
      assert.equal(target?.queue?.state, "waiting", JSON.stringify(target));
      assert.equal(target?.queue?.heldBy, "another-holder");
      const text = await world.api("GET", `/api/rollouts/${encodeURIComponent(id)}`, undefined, {
        accept: "text/plain",
      });
      assert.match(text.text, /waiting: another-holder holds the APIM service/);
    } finally {
      await free();
    }
    const report = await world.waitForRollout(id, 120_000);
    assert.equal(report.outcome?.state, "Succeeded", explain(report));
    assert.deepEqual(await world.served(HOST), [report.versions.next?.thumbprint]);
    const done = await queuedChange();
    assert.equal(
      (done?.output as { status?: string } | undefined)?.status,
      "done",
      JSON.stringify(done?.output),
    );
  });

  it("hears a cancel after continuing as new: withdraws the change, nothing to roll back", async () => {
    const free = await holdLease();
    try {
      const before = await world.served(HOST);
      const { id, queuedChange } = await startApimRollout();
      await waitingInThirdExecution(queuedChange);
      const cancel = await world.api("POST", `/api/rollouts/${encodeURIComponent(id)}/cancel`);
      assert.equal(cancel.status, 202, cancel.text);
      const report = await world.waitForRollout(id, 120_000);
      assert.equal(report.outcome?.state, "Cancelled", explain(report));
      assert.deepEqual(report.rollback?.actions ?? [], [], "nothing was written, so nothing is rolled back");
      assert.deepEqual((await queuedChange())?.output, {
        status: "failed",
        write: "notApplied",
        failure: { reason: "Cancelled", message: "The rollout was cancelled on request." },
      });
      assert.deepEqual(await world.served(HOST), before);
    } finally {
      await free();
    }
  });
});
