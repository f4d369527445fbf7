import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startSampleHost, waitFor, type SampleHost } from "./sampleHost.js";

interface TimerValue {
  schedule: { adjustForDST: boolean };
  scheduleStatus: { last: string; next: string; lastUpdated: string };
  isPastDue: boolean;
}

describe("timer triggers and the admin API", () => {
  let sample: SampleHost;
  let admin: string;

  before(async () => {
    sample = await startSampleHost();
    admin = `${sample.host.baseUrl}/admin`;
  });
  after(async () => {
    await sample?.stop();
  });

  const asMaster = (init: RequestInit = {}): RequestInit => ({
    ...init,
    headers: {
      "x-functions-key": sample.host.masterKey,
      ...(init.headers as Record<string, string> | undefined),
    },
  });

  test("a runOnStartup timer fires once at start with the timer value's shape", async () => {
    const [tick] = (await sample.waitForRecords("timer", 1)).filter((r) => r.functionName === "startupTick");
    assert.ok(tick, "startupTick did not run at startup");
    const timer = tick.timer as TimerValue;
    assert.equal(timer.isPastDue, false);
    assert.equal(timer.schedule.adjustForDST, true);
    // The schedule is "0 0 0 1 1 *": the next occurrence is midnight UTC on the next 1 January.
    const next = new Date(timer.scheduleStatus.next);
    assert.equal(next.toISOString(), `${new Date().getUTCFullYear() + 1}-01-01T00:00:00.000Z`);
    assert.ok(Date.parse(timer.scheduleStatus.last) <= Date.now());
  });

  test("POST /admin/functions/<timer> runs it once at once and answers 202", async () => {
    const before = sample.records("timer").filter((r) => r.functionName === "nightly").length;
    const res = await fetch(
      `${admin}/functions/nightly`,
      asMaster({ method: "POST", body: JSON.stringify({ input: "" }) }),
    );
    assert.equal(res.status, 202);
    const runs = await waitFor("the nightly run", () => {
      const found = sample.records("timer").filter((r) => r.functionName === "nightly");
      return found.length > before ? found : undefined;
    });
    const timer = runs[runs.length - 1]?.timer as TimerValue;
    assert.equal(timer.isPastDue, false);
    // "%SAMPLE_NIGHTLY_SCHEDULE%" is "0 30 2 * * *" in local.settings.json: the next run is at 02:30:00 UTC.
    assert.match(timer.scheduleStatus.next, /T02:30:00\.000Z$/);
  });

  test("the admin API runs a function whose trigger the host does not fire, with the given input", async () => {
    const res = await fetch(
      `${admin}/functions/manualJob`,
      asMaster({ method: "POST", body: JSON.stringify({ input: '{"job":7}' }) }),
    );
    assert.equal(res.status, 202);
    const [run] = await sample.waitForRecords("manualJob", 1);
    assert.deepEqual(run?.item, { job: 7 });
  });

  test("the admin API needs the master key", async () => {
    for (const key of [undefined, sample.host.hostKey, sample.host.functionKey("nightly")]) {
      const res = await fetch(`${admin}/functions/nightly`, {
        method: "POST",
        body: "{}",
        headers: key ? { "x-functions-key": key } : {},
      });
      assert.equal(res.status, 401);
    }
    assert.equal((await fetch(`${admin}/host/status`)).status, 401);
  });

  test("the admin API refuses unknown and HTTP-triggered functions", async () => {
    assert.equal(
      (await fetch(`${admin}/functions/missing`, asMaster({ method: "POST", body: "{}" }))).status,
      404,
    );
    const http = await fetch(`${admin}/functions/hello`, asMaster({ method: "POST", body: "{}" }));
    assert.equal(http.status, 400);
    const bad = await fetch(`${admin}/functions/nightly`, asMaster({ method: "POST", body: "{oops" }));
    assert.equal(bad.status, 400);
  });

  test("GET /admin/host/status and /admin/functions describe the running app", async () => {
    const status = (await (await fetch(`${admin}/host/status`, asMaster())).json()) as Record<
      string,
      unknown
    >;
    assert.equal(status.state, "Running");
    assert.deepEqual(status.extensionBundle, {
      id: "Microsoft.Azure.Functions.ExtensionBundle",
      version: "[4.*, 5.0.0)",
    });
    const list = (await (await fetch(`${admin}/functions`, asMaster())).json()) as {
      name: string;
      invoke_url_template: string | null;
      config: { bindings: { type: string }[] };
    }[];
    const byName = new Map(list.map((f) => [f.name, f]));
    assert.equal(byName.get("getItem")?.invoke_url_template, `${sample.host.baseUrl}/api/items/{id:int}`);
    assert.equal(byName.get("nightly")?.invoke_url_template, null);
    assert.equal(byName.get("keyVaultEvents")?.config.bindings[0]?.type, "eventGridTrigger");
    assert.ok(byName.has("manualJob"));
  });
});

describe("the timer schedule monitor", () => {
  test("an occurrence missed while the host was down runs at start with isPastDue", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "host-test-"));
    const missed = new Date(Date.now() - 3600_000).toISOString();
    writeFileSync(
      join(stateDir, "timers.json"),
      JSON.stringify({
        nightly: { last: new Date(Date.now() - 90_000_000).toISOString(), next: missed, lastUpdated: missed },
      }),
    );
    // startSampleHost removes only a folder it made itself.
    try {
      const sample = await startSampleHost({ stateDir });
      try {
        const runs = await waitFor("the past-due nightly run", () => {
          const found = sample.records("timer").filter((r) => r.functionName === "nightly");
          return found.length > 0 ? found : undefined;
        });
        const timer = runs[0]?.timer as TimerValue;
        assert.equal(timer.isPastDue, true);
        assert.equal(timer.scheduleStatus.last, missed);
      } finally {
        await sample.stop();
      }
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
