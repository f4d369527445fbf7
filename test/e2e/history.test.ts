/**
 * End to end, bounded history: a Front Door deployment that never finishes, with a deadline of days,
 * under a host time scale that makes hundreds of poll rounds take seconds. Every instance of the
 * rollout keeps a short history (the wait continues as new every few rounds, carrying its deadline
 * and round count), the polls back off from the stage's probe interval, and once the deployment is
 * released the rollout completes and serves the new certificate.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { STREAMED } from "../../emulator/lab/core/http.js";
import type { RolloutReport } from "../../src/domain/report.js";
import { holdFault, listInstances, newVersion, startRollout } from "../support/e2e.js";
import { startWorld, type World } from "../support/world.js";

const VAULT = "kv-contoso";
/** Longest history any one execution may have: a few dozen events per round batch, far below unbounded. */
const HISTORY_BOUND = 200;

describe("bounded history", () => {
  let world: World;
  let domainReads = 0;
  before(async () => {
    world = await startWorld({
      subscribeEvents: false,
      timeScale: 2000,
      settings: {
        // Days of deadline; at 2000x, 5 s of orchestration cap is 2.5 ms of real time per round.
        PROBE_DEADLINE_FRONT_DOOR_SECONDS: "400000",
        PROBE_INTERVAL_SECONDS: "2",
      },
    });
    world.lab.ctx.servers.arm.router.use(async (req, next) => {
      const res = await next();
      if (res !== STREAMED && req.method === "GET" && /\/customDomains\//i.test(req.path)) domainReads++;
      return res;
    });
  });
  after(async () => {
    await world?.stop();
  });

  it("a Front Door deployment that never finishes keeps every instance's history bounded", async () => {
    const name = "edge-contoso";
    const servedBefore = await world.served("api.contoso.test");
    const lift = await holdFault(world.lab, { service: "arm", kind: "afdDeploymentStuck" });
    const started = Date.now();
    let id = "";
    try {
      const created = await newVersion(world, name);
      id = await startRollout(world, { vault: VAULT, certificate: name, version: created.version });

      // Many rounds of the deployment wait (each reads the custom domain once).
      await world.waitFor(
        "80 reads of the stuck deployment",
        () => (domainReads >= 80 ? true : undefined),
        90_000,
      );
      const mine = (await listInstances(world)).filter((i) => i.instanceId.startsWith(id));
      const wait = mine.find((i) => /:t1:w1$/.test(i.instanceId));
      assert.ok(wait, `the target's deployment wait runs: ${mine.map((i) => i.instanceId).join(", ")}`);
      const generation = (wait.customStatus as { generation?: number } | null)?.generation ?? 0;
      assert.ok(generation >= 2, `the wait continued as new (generation ${generation})`);
      for (const i of mine) {
        const status = await world.status(i.instanceId, { history: true });
        const history = (status?.historyEvents as unknown[] | undefined) ?? [];
        assert.ok(
          history.length < HISTORY_BOUND,
          `${i.instanceId} (${i.runtimeStatus}) has ${history.length} history events after ${domainReads} rounds`,
        );
      }
      console.log(
        `history: ${domainReads} deployment reads in ${Date.now() - started} ms; wait generation ${generation}; ` +
          `longest history ${Math.max(...(await Promise.all(mine.map(async (i) => ((await world.status(i.instanceId, { history: true }))?.historyEvents as unknown[] | undefined)?.length ?? 0))))} events`,
      );
    } finally {
      await lift();
    }
    // Released: the deployment completes, the wait (carried across executions) sees it, the stage verifies.
    const report: RolloutReport = await world.waitForRollout(id, 90_000);
    assert.equal(report.outcome?.state, "Succeeded", `${report.outcome?.reason}: ${report.outcome?.message}`);
    const servedAfter = await world.served("api.contoso.test");
    assert.notDeepEqual(servedAfter, servedBefore, "the new certificate is served at every edge location");
    assert.deepEqual(new Set(servedAfter), new Set([report.versions.next?.thumbprint]));
  });
});
