/**
 * End to end, stopping a rollout: a cancel request reaches the wait a target is in (here an APIM
 * update that stays Updating, while the target holds the service's lease), the rollout ends
 * Cancelled with the applied update rolled back and verified by handshakes, and the lease is
 * released. And a binding discovery that stays incomplete (the APIM list answers 503 throughout)
 * ends NeedsAttention/DiscoveryIncomplete with the unreadable scope named, touching nothing.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { LOCK_PARTITION } from "../../src/activities/acquireLock.js";
import type { RolloutReport } from "../../src/domain/report.js";
import { holdFault, listInstances, locksTable, newVersion, startRollout } from "../support/e2e.js";
import { startWorld, type World } from "../support/world.js";

const VAULT = "kv-contoso";

describe("cancel and incomplete discovery", () => {
  let world: World;
  before(async () => {
    world = await startWorld({ subscribeEvents: false });
  });
  after(async () => {
    await world?.stop();
  });

  const start = (body: Record<string, unknown>) => startRollout(world, { vault: VAULT, ...body });
  const locks = async () => {
    const table = locksTable(world);
    const rows: { owner?: string }[] = [];
    try {
      // Leases only (the table also keeps other rows, such as write snapshots).
      for await (const e of table.listEntities<{ owner?: string }>({
        queryOptions: { filter: `PartitionKey eq '${LOCK_PARTITION}'` },
      }))
        rows.push(e);
    } catch {
      // no table yet: no lease
    }
    return rows;
  };

  it("a cancel during a target's provisioning wait ends Cancelled, the applied update rolled back", async () => {
    const name = "apim-gateway";
    const host = "apim.contoso.test";
    const servedBefore = await world.served(host);
    const release = await holdFault(world.lab, { service: "arm", kind: "apimStuck" });
    try {
      const id = await start({ certificate: name, version: (await newVersion(world, name)).version });
      // The update was sent and the target waits for it to provision (its poll runs), holding the lease.
      const waitId = await world.waitFor(
        "the APIM target's provisioning wait",
        async () =>
          (await listInstances(world)).find(
            (i) =>
              i.instanceId.startsWith(id) && /:t1:q:w1$/.test(i.instanceId) && i.runtimeStatus === "Running",
          )?.instanceId,
        60_000,
      );
      assert.ok((await locks()).length > 0, "the target holds the service's lease while it waits");
      const cancel = await world.api("POST", `/api/rollouts/${encodeURIComponent(id)}/cancel`);
      assert.equal(cancel.status, 202, cancel.text);
      // The wait hears the cancel (passed on rotation → stage → target → wait) while still stuck.
      const ended = await world.waitFor(
        "the provisioning wait to stop",
        async () => {
          const s = await world.status(waitId);
          return s && s.runtimeStatus === "Completed" ? s : undefined;
        },
        60_000,
      );
      assert.equal((ended.output as { status: string }).status, "cancelled", JSON.stringify(ended.output));
      // Let the stuck update finish so the rollback's own update can run.
      await release();
      const report: RolloutReport = await world.waitForRollout(id, 180_000);
      assert.equal(
        report.outcome?.state,
        "Cancelled",
        `${report.outcome?.reason}: ${report.outcome?.message}`,
      );
      assert.ok(
        report.rollback?.actions.length && report.rollback.actions.every((a) => a.verified),
        JSON.stringify(report.rollback),
      );
      assert.deepEqual(await world.served(host), servedBefore, "the previous certificate is served again");
      assert.deepEqual(await locks(), [], "the lease was released on the cancel path and after the rollback");
    } finally {
      await release();
    }
  });

  it("ends NeedsAttention (DiscoveryIncomplete) and touches nothing when an APIM scope stays unreadable", async () => {
    // apim-client is bound in two places: a Kubernetes ca.crt bundle (still readable) and an APIM
    // certificate entity (hidden by the fault). Rolling out only what was found would skip a hop.
    const name = "apim-client";
    const kube = world.lab.endpoints as unknown as { kubernetes: { server: string; staticToken: string } };
    const secretVersion = async () => {
      const r = await fetch(`${kube.kubernetes.server}/api/v1/namespaces/api/secrets/apim-client-ca`, {
        headers: { authorization: `Bearer ${kube.kubernetes.staticToken}` },
      });
      assert.ok(r.ok, `reading the Secret: ${r.status}`);
      return ((await r.json()) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    };
    const before = await secretVersion();
    const lift = await holdFault(world.lab, {
      service: "arm",
      kind: "status",
      status: 503,
      match: "^GET .*Microsoft\\.ApiManagement/service",
    });
    try {
      const id = await start({ certificate: name, version: (await newVersion(world, name)).version });
      const report = await world.waitForRollout(id, 120_000);
      assert.equal(
        report.outcome?.state,
        "NeedsAttention",
        `${report.outcome?.reason}: ${report.outcome?.message}`,
      );
      assert.equal(report.outcome?.reason, "DiscoveryIncomplete");
      assert.match(report.outcome?.message ?? "", /1 binding\(s\) found/, "what was found is said");
      assert.match(
        report.outcome?.message ?? "",
        /APIM|ApiManagement|API Management/i,
        "the unreadable scope is named",
      );
      assert.deepEqual(report.stages, [], "nothing was planned");
      assert.equal(await secretVersion(), before, "the readable Kubernetes binding was not written either");
    } finally {
      await lift();
    }
  });
});
