/**
 * End to end, a cancel that comes too late, for the seeded ingress certificate (one Kubernetes
 * stage):
 *
 * - the rollout has finished: `POST /api/rollouts/{id}/cancel` answers 409 `NotRunning` (by run id
 *   and by instance id), and nothing changes — the instance, its report, the audit row, the outcome
 *   events, what the hop serves, and no write reaches the lab;
 * - the last stage finishes while the cancel is in flight (the rotation is suspended while its stage
 *   completes, then hears the stage's answer before the cancel): 202, and the rollout still ends
 *   Succeeded, saying "Cancel arrived too late", with no rollback: the hop keeps the new leaf and the
 *   Secret is not written again;
 * - the outcome is decided and the rollout only records and publishes it (the outcome topic answers
 *   503 until the test lifts the fault): 409 `NotRunning` naming the outcome, never a 202 for a
 *   cancel nothing will hear.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { stageInstanceId } from "../../src/domain/instanceIds.js";
import type { RolloutReport } from "../../src/domain/report.js";
import {
  configureLab,
  durableOperation,
  explain,
  holdFault,
  newVersion,
  outcomeEvents,
  plannedStages,
  recordLabWrites,
  startRollout,
  waitForStageProbing,
  type LabWrite,
} from "../support/e2e.js";
import { startWorld, type World } from "../support/world.js";

const VAULT = "kv-contoso";
const NAME = "ingress-tls";
const HOST = "backend.contoso.test";
/** The Secret serving HOST, as the lab's Kubernetes API path names it. */
const SECRET_PATH = /\/namespaces\/api\/secrets\/backend-tls$/i;

describe("a cancel that comes too late", () => {
  let world: World;
  let writes: LabWrite[] = [];

  before(async () => {
    world = await startWorld({
      subscribeEvents: false,
      // Orchestration seconds (the host runs 20× faster): a held stage waits up to 120 s.
      settings: { PROBE_DEADLINE_KUBERNETES_SECONDS: "2400" },
    });
    await configureLab(world.lab, "/lab/keyvault/settings", { createDelayMs: 100 });
    writes = recordLabWrites(world.lab);
  });
  after(async () => {
    await world?.stop();
  });

  const nextVersion = () => newVersion(world, NAME, { intervalInMs: 50 });
  const start = (version: string) => startRollout(world, { vault: VAULT, certificate: NAME, version });
  const cancel = (id: string) => world.api("POST", `/api/rollouts/${encodeURIComponent(id)}/cancel`);
  const auditRows = async () => {
    const audit = await world.api("GET", `/api/rollouts?certificate=${VAULT}/${NAME}`);
    assert.equal(audit.status, 200, audit.text);
    return (audit.body as { value: { runId: string }[] }).value;
  };
  const outcomeEventIds = async (runId: string) =>
    (await outcomeEvents(world.lab)).filter((e) => e.data.runId === runId).map((e) => e.id);
  const secretWritesSince = (mark: number) =>
    writes.slice(mark).filter((w) => w.server === "kubernetes" && SECRET_PATH.test(w.path));

  it("a finished rollout: 409 NotRunning, by run id and instance id, and nothing changes", async () => {
    const v = await nextVersion();
    const id = await start(v.version);
    const report = await world.waitForRollout(id);
    assert.equal(report.outcome?.state, "Succeeded", explain(report));
    const runId = report.runId as string;
    const statusBefore = await world.status(id);
    const rowsBefore = await auditRows();
    const eventsBefore = await outcomeEventIds(runId);
    assert.deepEqual(eventsBefore, [`${runId}:Succeeded`], "one outcome event");
    assert.deepEqual(await world.served(HOST), [v.thumbprint]);
    const mark = writes.length;

    for (const target of [runId, id]) {
      const answer = await cancel(target);
      assert.equal(answer.status, 409, `cancel ${target}: ${answer.text}`);
      const error = (answer.body as { error: { code: string; message: string } }).error;
      assert.equal(error.code, "NotRunning", answer.text);
      assert.match(error.message, /Completed|Succeeded/, "the answer says how the rollout ended");
    }

    // Nothing moved: the instance, its report, the audit row, the outcome events, the hop, the lab.
    const statusAfter = await world.status(id);
    assert.deepEqual(
      [statusAfter?.runtimeStatus, statusAfter?.lastUpdatedTime, statusAfter?.output],
      [statusBefore?.runtimeStatus, statusBefore?.lastUpdatedTime, statusBefore?.output],
      "the finished instance is untouched",
    );
    const shown = await world.api("GET", `/api/rollouts/${encodeURIComponent(runId)}`);
    assert.deepEqual(shown.body, report, "the report is the same");
    assert.deepEqual(await auditRows(), rowsBefore, "the audit rows are the same");
    assert.deepEqual(await outcomeEventIds(runId), eventsBefore, "no other outcome event");
    assert.deepEqual(await world.served(HOST), [v.thumbprint], "the hop still serves the new leaf");
    assert.deepEqual(writes.slice(mark), [], "no write reached the lab");
  });

  it("the last stage finishes while the cancel is in flight: 202, then Succeeded 'too late', no rollback", async () => {
    const servedBefore = await world.served(HOST);
    const lift = await holdFault(world.lab, {
      service: "edge",
      kind: "neverPropagate",
      match: `^ingress ${HOST.replace(/\./g, "\\.")}$`,
    });
    try {
      await world.lab.control("POST", "/lab/edge/refresh");
      const v = await nextVersion();
      const id = await start(v.version);

      // 1. The only stage has written and probes (held by the fault).
      const stage = await world.waitFor("the plan", async () => {
        const stages = await plannedStages(world, id);
        return stages?.length === 1 && stages[0]?.stage === "kubernetes" ? stages[0] : undefined;
      });
      const stageId = stageInstanceId(id, v.version, stage.index, "kubernetes");
      await waitForStageProbing(world, "the stage to probe after its write", stageId);
      assert.deepEqual(await world.served(HOST), servedBefore, "the fault holds the previous leaf");

      // 2. The rotation is suspended; the stage, released, succeeds meanwhile.
      await durableOperation(world, id, "suspend");
      await world.waitFor("the rotation to be suspended", async () =>
        (await world.status(id))?.runtimeStatus === "Suspended" ? true : undefined,
      );
      await lift();
      const stageDone = await world.waitFor("the stage to succeed", async () => {
        const s = await world.status(stageId);
        return s?.runtimeStatus === "Completed" ? s : undefined;
      });
      assert.equal((stageDone.output as { status: string }).status, "succeeded", JSON.stringify(stageDone));

      // 3. The cancel is accepted (the rotation has not heard the stage yet), then the rotation resumes.
      const mark = writes.length;
      const answer = await cancel(id);
      assert.equal(answer.status, 202, answer.text);
      await durableOperation(world, id, "resume");
      const report = await world.waitForRollout(id);

      // 4. Succeeded, saying the cancel came too late; nothing rolled back.
      assert.equal(report.outcome?.state, "Succeeded", explain(report));
      assert.match(report.outcome?.message ?? "", /Cancel arrived too late/);
      assert.equal(report.rollback, undefined, "no rollback");
      assert.ok(
        report.stages.every(
          (s) => s.status === "succeeded" && s.targets.every((t) => t.status === "verified"),
        ),
        explain(report),
      );
      assert.deepEqual(await world.served(HOST), [v.thumbprint], "the hop keeps the new leaf");
      assert.deepEqual(secretWritesSince(mark), [], "the Secret was not written again");
      assert.deepEqual(await outcomeEventIds(report.runId as string), [`${report.runId}:Succeeded`]);
    } finally {
      await lift();
    }
  });

  it("the outcome is decided, only being recorded: 409 NotRunning, and it ends as decided", async () => {
    const v = await nextVersion();
    // The outcome topic refuses (503) until lifted: the rollout holds in publishing its outcome.
    const lift = await holdFault(world.lab, {
      service: "eventgrid",
      kind: "status",
      status: 503,
      match: "^POST /api/events",
    });
    try {
      const id = await start(v.version);
      const decided = await world.waitFor("the rollout to decide its outcome and publish it", async () => {
        const s = await world.status(id);
        const live = s?.customStatus as RolloutReport | undefined;
        return s?.runtimeStatus === "Running" && live?.outcome ? live : undefined;
      });
      assert.equal(decided.outcome?.state, "Succeeded", explain(decided));
      const mark = writes.length;

      const answer = await cancel(id);
      assert.equal(answer.status, 409, `a cancel nothing will hear is refused: ${answer.text}`);
      const error = (answer.body as { error: { code: string; message: string } }).error;
      assert.equal(error.code, "NotRunning", answer.text);
      assert.match(error.message, /Succeeded/, "the answer names the outcome");

      await lift();
      const report = await world.waitForRollout(id);
      assert.equal(report.outcome?.state, "Succeeded", explain(report));
      assert.equal(report.outcome?.message, decided.outcome?.message, "the outcome is the one decided");
      assert.equal(report.rollback, undefined, "no rollback");
      assert.deepEqual(await world.served(HOST), [v.thumbprint], "the hop keeps the new leaf");
      assert.deepEqual(secretWritesSince(mark), [], "the Secret was not written again");
    } finally {
      await lift();
    }
  });
});
