/**
 * The Durable extension through the real local host, the sample app and HTTP: orchestrations,
 * activities with retry, timers, external events, sub-orchestrations, Task.all/any, continue-as-new,
 * failures, and the Durable HTTP API's operations and status codes.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  durableRecords,
  postJson,
  request,
  startDurableFixture,
  waitFor,
  waitForStatus,
  type DurableFixture,
  type StatusBody,
} from "./durableSupport.js";

interface CheckStatus {
  id: string;
  statusQueryGetUri: string;
  sendEventPostUri: string;
  terminatePostUri: string;
  purgeHistoryDeleteUri: string;
  suspendPostUri: string;
  resumePostUri: string;
}

describe("Durable Functions on the local host", () => {
  let f: DurableFixture;
  const timeScale = 100;

  before(async () => {
    f = await startDurableFixture(timeScale);
  });
  after(async () => {
    await f?.stop();
  });

  const start = async (name: string, input?: unknown, instanceId?: string): Promise<CheckStatus> => {
    const url = `${f.host.baseUrl}/api/durable/start/${name}${instanceId ? `/${instanceId}` : ""}`;
    const response = await postJson(url, input);
    assert.equal(response.status, 202, JSON.stringify(response.body));
    return response.body as CheckStatus;
  };
  const statusUrl = (id: string, query = ""): string =>
    `${f.api}/instances/${encodeURIComponent(id)}?code=${f.code}${query}`;
  const runToEnd = async (name: string, input?: unknown): Promise<StatusBody> => {
    const links = await start(name, input);
    return waitForStatus(links.statusQueryGetUri);
  };

  it("runs a sequence with deterministic time and guid, custom status and history", async () => {
    const links = await start("durableSequence", { cities: ["Tokyo", "Lima"] });
    assert.match(
      links.statusQueryGetUri,
      new RegExp(`^${f.host.baseUrl}/runtime/webhooks/durabletask/instances/`),
    );
    assert.match(links.statusQueryGetUri, /[?&]code=/);
    const status = await waitForStatus(links.statusQueryGetUri);
    assert.equal(status.runtimeStatus, "Completed");
    assert.equal(status.name, "durableSequence");
    const output = status.output as { greetings: string[]; startedAt: string; guid: string; echoed: unknown };
    assert.deepEqual(output.greetings, ["Hello Tokyo!", "Hello Lima!"]);
    assert.deepEqual(output.echoed, { startedAt: output.startedAt, guid: output.guid });
    assert.deepEqual(status.customStatus, { step: "done", count: 2 });
    assert.deepEqual(status.input, { cities: ["Tokyo", "Lima"] });

    const withHistory = await request(`${links.statusQueryGetUri}&showHistory=true&showHistoryOutput=true`);
    assert.equal(withHistory.status, 200);
    const events = (withHistory.body as StatusBody).historyEvents ?? [];
    const types = events.map((e) => e.EventType);
    assert.equal(types[0], "ExecutionStarted");
    assert.equal(types.at(-1), "ExecutionCompleted");
    const hellos = events.filter((e) => e.EventType === "TaskCompleted" && e.FunctionName === "durableHello");
    assert.deepEqual(
      hellos.map((e) => e.Result),
      ["Hello Tokyo!", "Hello Lima!"],
    );
    const noOutput = await request(`${links.statusQueryGetUri}&showHistory=true`);
    const completed = ((noOutput.body as StatusBody).historyEvents ?? []).find(
      (e) => e.EventType === "TaskCompleted",
    );
    assert.ok(completed && !("Result" in completed), "history outputs only with showHistoryOutput=true");
  });

  it("starts through the public API with the system key, and answers 401, 400 and 409 like the extension", async () => {
    const url = `${f.api}/orchestrators/durableFanOut/fan-${Date.now()}?code=${f.code}`;
    const started = await postJson(url, { count: 25 });
    assert.equal(started.status, 202);
    const body = started.body as CheckStatus;
    assert.equal(started.headers.get("location"), body.statusQueryGetUri);
    const conflict = await postJson(url, { count: 1 });
    assert.equal(conflict.status, 409);
    const status = await waitForStatus(body.statusQueryGetUri);
    assert.deepEqual(status.output, { count: 25, sum: 300 });

    assert.equal((await postJson(`${f.api}/orchestrators/durableFanOut`, {})).status, 401);
    assert.equal((await postJson(`${f.api}/orchestrators/durableFanOut?code=wrong`, {})).status, 401);
    assert.equal((await request(`${f.api}/instances/${body.id}`)).status, 401);
    assert.equal(
      (await postJson(`${f.api}/orchestrators/noSuchOrchestrator?code=${f.code}`, {})).status,
      400,
    );
    const malformed = await request(`${f.api}/orchestrators/durableFanOut?code=${f.code}`, {
      method: "POST",
      body: "{not json",
    });
    assert.equal(malformed.status, 400);
    assert.equal((await request(statusUrl("no-such-instance"))).status, 404);
  });

  it("retries activities with backoff until they succeed, and surfaces the last failure when attempts run out", async () => {
    const ok = await runToEnd("durableRetry", {
      key: `ok-${Date.now()}`,
      succeedOnAttempt: 3,
      maxNumberOfAttempts: 4,
    });
    assert.equal(ok.runtimeStatus, "Completed");
    assert.deepEqual((ok.output as { result: unknown }).result, {
      key: (ok.input as { key: string }).key,
      attempt: 3,
    });

    const key = `exhausted-${Date.now()}`;
    const exhausted = await runToEnd("durableRetry", { key, succeedOnAttempt: 10, maxNumberOfAttempts: 2 });
    const output = exhausted.output as { ok: boolean; message: string };
    assert.equal(output.ok, false);
    assert.match(output.message, new RegExp(`flaky ${key} failed attempt 2`));
    const runs = durableRecords(f.recordFile).filter((r) => r.key === key);
    assert.equal(runs.length, 2);

    const history = await request(statusUrl(exhausted.instanceId, "&showHistory=true"));
    const types = ((history.body as StatusBody).historyEvents ?? []).map((e) => e.EventType);
    assert.deepEqual(
      types.filter((t) => t === "TaskFailed" || t === "TimerCreated" || t === "TimerFired"),
      ["TaskFailed", "TimerCreated", "TimerFired", "TaskFailed", "TimerCreated", "TimerFired"],
    );
  });

  it("stops retrying once retryTimeoutInMilliseconds has passed", async () => {
    const key = `timeout-${Date.now()}`;
    const status = await runToEnd("durableRetry", {
      key,
      succeedOnAttempt: 10,
      maxNumberOfAttempts: 5,
      retryTimeoutInMilliseconds: 1,
    });
    const output = status.output as { ok: boolean; message: string };
    assert.equal(output.ok, false);
    assert.match(output.message, /failed attempt 1/);
    assert.equal(durableRecords(f.recordFile).filter((r) => r.key === key).length, 1);
  });

  it("throws activity failures into the orchestrator, which can catch them", async () => {
    const status = await runToEnd("durableCatch", "input-1");
    assert.equal(status.runtimeStatus, "Completed");
    const output = status.output as { caught: string; next: string };
    assert.match(output.caught, /Activity function 'durableFail' failed: activity exploded on input-1/);
    assert.equal(output.next, "Hello after failure!");
  });

  it("reports an orchestrator that throws as Failed with its message at the createCheckStatusResponse URL", async () => {
    const links = await start("durableThrows", "boom-42");
    const status = await waitForStatus(links.statusQueryGetUri);
    assert.equal(status.runtimeStatus, "Failed");
    assert.match(
      String(status.output),
      /Orchestrator function 'durableThrows' failed: orchestrator exploded: boom-42/,
    );
    assert.equal((await request(links.statusQueryGetUri)).status, 200);
    assert.equal(
      (await request(`${links.statusQueryGetUri}&returnInternalServerErrorOnFailure=true`)).status,
      500,
    );

    const unhandled = await runToEnd("durableUnhandledActivityFailure", "x9");
    assert.equal(unhandled.runtimeStatus, "Failed");
    assert.match(String(unhandled.output), /activity exploded on x9/);
  });

  it("fails an orchestration whose custom status exceeds 16 KB, as the Durable extension does", async () => {
    assert.equal((await runToEnd("durableCustomStatusSize", 8000)).runtimeStatus, "Completed");
    const tooBig = await runToEnd("durableCustomStatusSize", 8200);
    assert.equal(tooBig.runtimeStatus, "Failed");
    assert.match(String(tooBig.output), /custom status is \d+ characters.*16 KB/);
  });

  it("fires durable timers after fireAt in orchestration time, shortened in real time by the time scale", async () => {
    const began = Date.now();
    const status = await runToEnd("durableTimer", { seconds: 120 });
    const elapsed = Date.now() - began;
    const output = status.output as { before: string; fireAt: string; after: string };
    assert.ok(Date.parse(output.after) >= Date.parse(output.fireAt), `${output.after} >= ${output.fireAt}`);
    assert.ok(elapsed < (120_000 / timeScale) * 5, `took ${elapsed} ms at time scale ${timeScale}`);
    assert.ok(
      elapsed >= 120_000 / timeScale / 2,
      `took ${elapsed} ms, too short for a 120 s timer at scale ${timeScale}`,
    );
  });

  it("delivers external events, buffering one raised before the orchestrator waits for it", async () => {
    const links = await start("durableApproval", { timeoutSeconds: 3600 });
    await waitForStatus(links.statusQueryGetUri, ["Running"]);
    const raise = await postJson(links.sendEventPostUri.replace("{eventName}", "approval"), { by: "alice" });
    assert.equal(raise.status, 202);
    assert.deepEqual((await waitForStatus(links.statusQueryGetUri)).output, { approved: { by: "alice" } });

    const early = await start("durableApproval", { timeoutSeconds: 3600, warmUp: true });
    await postJson(early.sendEventPostUri.replace("{eventName}", "approval"), "early bird");
    assert.deepEqual((await waitForStatus(early.statusQueryGetUri)).output, { approved: "early bird" });

    const late = await runToEnd("durableApproval", { timeoutSeconds: 1 });
    assert.deepEqual(late.output, { approved: null, timedOut: true });
  });

  it("rejects raise event bodies that are not JSON", async () => {
    const links = await start("durableWaitForever");
    const url = links.sendEventPostUri.replace("{eventName}", "go");
    const plain = await request(url, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "hi",
    });
    assert.equal(plain.status, 400);
    const broken = await request(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{",
    });
    assert.equal(broken.status, 400);
    assert.equal((await postJson(url, 1)).status, 202);
    assert.deepEqual((await waitForStatus(links.statusQueryGetUri)).output, { got: 1 });
  });

  it("resolves Task.any with the first finished task", async () => {
    const status = await runToEnd("durableWhenAny");
    assert.deepEqual(status.output, { winner: "fast" });
  });

  it("runs sub-orchestrations with explicit and generated ids, in parallel, and with retry on failure", async () => {
    const links = await start("durableParent");
    const status = await waitForStatus(links.statusQueryGetUri, undefined, 20_000);
    assert.equal(status.runtimeStatus, "Completed", JSON.stringify(status.output));
    const id = status.instanceId;
    const output = status.output as {
      explicit: { doubled: number; parent: string };
      generated: { doubled: number };
      both: { doubled: number }[];
      failure: string;
    };
    assert.equal(output.explicit.doubled, 2);
    assert.equal(output.explicit.parent, id);
    assert.equal(output.generated.doubled, 4);
    assert.deepEqual(
      output.both.map((b) => b.doubled),
      [6, 8],
    );
    assert.match(output.failure, new RegExp(`child ${id}-failing failed on purpose`));
    const child = await request(statusUrl(`${id}-explicit`));
    assert.equal((child.body as StatusBody).runtimeStatus, "Completed");
  });

  it("continues as new with a fresh history, carrying events that arrived meanwhile", async () => {
    const links = await start("durableCounter");
    const url = links.sendEventPostUri.replace("{eventName}", "add");
    for (const value of [1, 2, 3]) assert.equal((await postJson(url, value)).status, 202);
    const status = await waitForStatus(links.statusQueryGetUri);
    assert.deepEqual(status.output, { total: 6, generation: 3 });
    const history = await request(`${links.statusQueryGetUri}&showHistory=true`);
    const events = (history.body as StatusBody).historyEvents ?? [];
    assert.equal(events.filter((e) => e.EventType === "ExecutionStarted").length, 1);
    assert.deepEqual((events[0] as { Input: unknown }).Input, { total: 3, generation: 2 });
  });

  it("suspends, resumes, terminates, and answers 404/410 like the Durable HTTP API", async () => {
    const links = await start("durableWaitForever");
    const witness = await start("durableWaitForever");
    await waitForStatus(links.statusQueryGetUri, ["Running"]);
    await waitForStatus(witness.statusQueryGetUri, ["Running"]);
    assert.equal((await postJson(links.suspendPostUri.replace("{text}", "pause"))).status, 202);
    await waitForStatus(links.statusQueryGetUri, ["Suspended"]);
    assert.equal(
      (await postJson(links.sendEventPostUri.replace("{eventName}", "go"), "while suspended")).status,
      202,
    );
    // The event must NOT complete the suspended instance. Instead of a fixed sleep, the same event is
    // raised afterwards to a running instance: once that one has completed, the earlier event has had
    // its turn (the host serves instances in arrival order), and the suspended one must still be waiting.
    assert.equal(
      (await postJson(witness.sendEventPostUri.replace("{eventName}", "go"), "witness")).status,
      202,
    );
    assert.deepEqual((await waitForStatus(witness.statusQueryGetUri)).output, { got: "witness" });
    assert.equal(((await request(links.statusQueryGetUri)).body as StatusBody).runtimeStatus, "Suspended");
    assert.equal((await postJson(links.resumePostUri.replace("{text}", "go on"))).status, 202);
    assert.deepEqual((await waitForStatus(links.statusQueryGetUri)).output, { got: "while suspended" });

    const victim = await start("durableWaitForever");
    await waitForStatus(victim.statusQueryGetUri, ["Running"]);
    assert.equal((await postJson(victim.terminatePostUri.replace("{text}", "enough"))).status, 202);
    const terminated = await waitForStatus(victim.statusQueryGetUri);
    assert.equal(terminated.runtimeStatus, "Terminated");
    assert.equal(terminated.output, "enough");
    assert.equal((await postJson(victim.terminatePostUri.replace("{text}", "again"))).status, 410);
    assert.equal((await postJson(victim.sendEventPostUri.replace("{eventName}", "go"), 1)).status, 410);
    assert.equal((await postJson(victim.suspendPostUri.replace("{text}", "x"))).status, 410);

    const missing = `${f.api}/instances/nobody`;
    assert.equal((await postJson(`${missing}/terminate?code=${f.code}`)).status, 404);
    assert.equal((await postJson(`${missing}/suspend?code=${f.code}`)).status, 404);
    assert.equal((await postJson(`${missing}/resume?code=${f.code}`)).status, 404);
    assert.equal((await postJson(`${missing}/raiseEvent/go?code=${f.code}`, 1)).status, 404);
  });

  it("purges single instances (only terminal ones) and by filter", async () => {
    const running = await start("durableWaitForever");
    await waitForStatus(running.statusQueryGetUri, ["Running"]);
    assert.equal((await request(running.purgeHistoryDeleteUri, { method: "DELETE" })).status, 412);

    const done = await runToEnd("durableChain", { steps: 2 });
    const purge = await request(statusUrl(done.instanceId), { method: "DELETE" });
    assert.equal(purge.status, 200);
    assert.deepEqual(purge.body, { instancesDeleted: 1 });
    assert.equal((await request(statusUrl(done.instanceId))).status, 404);
    assert.equal((await request(statusUrl(done.instanceId), { method: "DELETE" })).status, 404);

    const from = new Date(Date.now() - 1000).toISOString();
    const a = await runToEnd("durableChain", { steps: 1 });
    const b = await runToEnd("durableChain", { steps: 1 });
    assert.equal((await request(`${f.api}/instances/?code=${f.code}`, { method: "DELETE" })).status, 400);
    const byFilter = await request(
      `${f.api}/instances/?code=${f.code}&createdTimeFrom=${from}&runtimeStatus=Completed`,
      { method: "DELETE" },
    );
    assert.equal(byFilter.status, 200);
    assert.ok((byFilter.body as { instancesDeleted: number }).instancesDeleted >= 2);
    assert.equal((await request(statusUrl(a.instanceId))).status, 404);
    assert.equal((await request(statusUrl(b.instanceId))).status, 404);
    assert.equal(((await request(running.statusQueryGetUri)).body as StatusBody).runtimeStatus, "Running");
    await postJson(running.terminatePostUri.replace("{text}", "cleanup"));
  });

  it("lists instances with status, time and prefix filters and continuation tokens", async () => {
    const prefix = `list-${Date.now()}-`;
    const from = new Date(Date.now() - 1000).toISOString();
    for (let i = 0; i < 5; i++) {
      await start("durableChain", { steps: 1 }, `${prefix}${i}`);
    }
    for (let i = 0; i < 5; i++) await waitForStatus(statusUrl(`${prefix}${i}`));
    const waiting = await start("durableWaitForever", undefined, `${prefix}waiting`);
    await waitForStatus(waiting.statusQueryGetUri, ["Running"]);

    const seen: StatusBody[] = [];
    let token: string | null = null;
    let pages = 0;
    do {
      const headers: Record<string, string> = token ? { "x-ms-continuation-token": token } : {};
      const page = await request(
        `${f.api}/instances/?code=${f.code}&instanceIdPrefix=${prefix}&runtimeStatus=Completed&createdTimeFrom=${from}&top=2`,
        { headers },
      );
      assert.equal(page.status, 200);
      const items = page.body as StatusBody[];
      assert.ok(items.length <= 2);
      seen.push(...items);
      token = page.headers.get("x-ms-continuation-token");
      pages++;
    } while (token && pages < 10);
    assert.ok(pages >= 3, `expected paging, got ${pages} page(s)`);
    assert.deepEqual(
      seen.map((s) => s.instanceId).sort(),
      [0, 1, 2, 3, 4].map((i) => `${prefix}${i}`).sort(),
    );
    assert.ok(seen.every((s) => s.runtimeStatus === "Completed"));

    const runningOnly = await request(
      `${f.api}/instances/?code=${f.code}&instanceIdPrefix=${prefix}&runtimeStatus=Running,Pending`,
    );
    assert.deepEqual(
      (runningOnly.body as StatusBody[]).map((s) => s.instanceId),
      [`${prefix}waiting`],
    );
    const future = await request(
      `${f.api}/instances/?code=${f.code}&instanceIdPrefix=${prefix}&createdTimeFrom=2999-01-01T00:00:00Z`,
    );
    assert.deepEqual(future.body, []);
    await postJson(waiting.terminatePostUri.replace("{text}", "cleanup"));
  });

  it("serves the durable client's own calls through its local RPC endpoint", async () => {
    const manage = (
      op: string,
      id = "",
      body?: unknown,
    ): Promise<ReturnType<typeof postJson> extends Promise<infer R> ? R : never> =>
      postJson(`${f.host.baseUrl}/api/durable/manage/${op}/${id}`, body);
    const links = await start("durableWaitForever", { from: "client" });
    await waitForStatus(links.statusQueryGetUri, ["Running"]);
    const status = await manage("status", links.id, { showHistory: true });
    assert.equal(status.status, 200, JSON.stringify(status.body));
    assert.equal((status.body as StatusBody).runtimeStatus, "Running");
    assert.deepEqual((status.body as StatusBody).customStatus, "waiting");

    const payload = await manage("payload", links.id);
    assert.equal((payload.body as CheckStatus).id, links.id);
    assert.match((payload.body as CheckStatus).statusQueryGetUri, new RegExp(`/instances/${links.id}\\?`));
    // The management payload names this host (WEBSITE_HOSTNAME), not durable-functions' localhost:7071 default.
    assert.ok((payload.body as CheckStatus).statusQueryGetUri.startsWith(f.host.baseUrl));
    assert.equal((await request((payload.body as CheckStatus).statusQueryGetUri)).status, 202);

    assert.equal((await manage("raise", links.id, { name: "go", data: { via: "rpc" } })).status, 202);
    assert.deepEqual((await waitForStatus(links.statusQueryGetUri)).output, { got: { via: "rpc" } });

    const list = await manage("list", "", {
      runtimeStatus: ["Completed"],
      createdTimeFrom: new Date(Date.now() - 60_000),
    });
    assert.ok((list.body as StatusBody[]).some((s) => s.instanceId === links.id));

    const other = await start("durableWaitForever");
    await waitForStatus(other.statusQueryGetUri, ["Running"]);
    assert.equal((await manage("terminate", other.id, { reason: "rpc says stop" })).status, 202);
    assert.equal((await waitForStatus(other.statusQueryGetUri)).output, "rpc says stop");
    const purged = await manage("purge", other.id);
    assert.deepEqual(purged.body, { instancesDeleted: 1 });
    await waitFor("purged instance to disappear", async () =>
      (await request(statusUrl(other.id))).status === 404 ? true : undefined,
    );
  });
});
