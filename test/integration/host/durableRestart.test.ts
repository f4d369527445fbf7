/**
 * Kill -9 the host (a child process running the CLI) while activities are running, start it again on
 * the same storage: every instance resumes, completed activities are not run again, interrupted ones are.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ensureAzurite, type AzuriteHandle } from "../../../emulator/host/azurite.js";
import {
  durableRecords,
  postJson,
  request,
  sampleApp,
  waitFor,
  waitForStatus,
  type StatusBody,
} from "./durableSupport.js";

const hostMain = resolve(fileURLToPath(import.meta.url), "../../../../emulator/host/main.js");

interface HostProcess {
  child: ChildProcess;
  baseUrl: string;
}

function startHostProcess(stateDir: string, env: Record<string, string>): Promise<HostProcess> {
  const child = spawn(
    process.execPath,
    [
      hostMain,
      "--app",
      sampleApp(),
      "--port",
      "0",
      "--state-dir",
      stateDir,
      "--time-scale",
      "100",
      "--no-azurite",
    ],
    { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`host did not start:\n${output}`));
    }, 30_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /Host started at (http:\/\/[^\s]+) /.exec(output);
      if (match) {
        clearTimeout(timer);
        resolveStart({ child, baseUrl: match[1] as string });
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`host exited with ${code}:\n${output}`));
    });
  });
}

function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    child.once("exit", () => done());
    child.kill("SIGKILL");
  });
}

describe("Durable instances survive a killed host", () => {
  let azurite: AzuriteHandle;
  let dir: string;
  const children: ChildProcess[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "durable-restart-"));
    azurite = await ensureAzurite({ location: join(dir, "azurite"), ports: "ephemeral" });
  });
  after(async () => {
    for (const child of children) await kill(child);
    await azurite?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("resumes after kill -9: completed activities run once, interrupted ones run again", async () => {
    const recordFile = join(dir, "records.jsonl");
    const gate = join(dir, "gate");
    const env = { AzureWebJobsStorage: azurite.connectionString, SAMPLE_RECORD_FILE: recordFile };
    const stateDir = join(dir, "state");

    const first = await startHostProcess(stateDir, env);
    children.push(first.child);
    const ids = ["restart-a", "restart-b"];
    const links: { statusQueryGetUri: string }[] = [];
    for (const id of ids) {
      const started = await postJson(`${first.baseUrl}/api/durable/start/durableGatedFanOut/${id}`, {
        gate,
        first: 3,
      });
      assert.equal(started.status, 202);
      links.push(started.body as { statusQueryGetUri: string });
    }
    // Wait until both instances have finished their three steps and gated activities fill the sample app's
    // maxConcurrentActivityFunctions (4) slots; the other two gated activities wait in the queue.
    await waitFor("gated activities to start", () => {
      const records = durableRecords(recordFile);
      const starts = records.filter((r) => r.activity === "durableGated" && r.phase === "start");
      const hellos = records.filter((r) => r.activity === "durableHello");
      return starts.length >= 4 && hellos.length >= 6 ? true : undefined;
    });
    await kill(first.child);

    const before = durableRecords(recordFile);
    const startedBeforeKill = before.filter(
      (r) => r.activity === "durableGated" && r.phase === "start",
    ).length;
    assert.equal(startedBeforeKill, 4, "no more activities run at once than maxConcurrentActivityFunctions");
    const helloRuns = before.filter((r) => r.activity === "durableHello").length;
    assert.equal(helloRuns, 6);
    assert.equal(before.filter((r) => r.activity === "durableGated" && r.phase === "end").length, 0);

    writeFileSync(gate, "open");
    const second = await startHostProcess(stateDir, env);
    children.push(second.child);
    for (const [index, id] of ids.entries()) {
      const url = (links[index]?.statusQueryGetUri ?? "").replace(first.baseUrl, second.baseUrl);
      const status: StatusBody = await waitForStatus(url, undefined, 20_000);
      assert.equal(status.runtimeStatus, "Completed", `${id}: ${JSON.stringify(status.output)}`);
      assert.deepEqual(status.output, {
        done: ["Hello step 0!", "Hello step 1!", "Hello step 2!"],
        gated: [0, 1, 2],
      });
    }

    const records = durableRecords(recordFile);
    // Each completed step ran exactly once (3 per instance), across both hosts.
    const hellos = records.filter((r) => r.activity === "durableHello").map((r) => r.input);
    assert.equal(hellos.length, 6);
    for (const step of ["step 0", "step 1", "step 2"])
      assert.equal(hellos.filter((h) => h === step).length, 2);
    // Each interrupted activity started again after the restart; each gated activity ended once.
    const gated = records.filter((r) => r.activity === "durableGated");
    assert.equal(gated.filter((r) => r.phase === "start").length, startedBeforeKill + 6);
    assert.equal(gated.filter((r) => r.phase === "end").length, 6);

    const list = await request(
      `${second.baseUrl}/runtime/webhooks/durabletask/instances/?runtimeStatus=Running,Pending&code=${await systemKey(second.baseUrl, stateDir)}`,
    );
    assert.deepEqual(list.body, []);
    await kill(second.child);
  });
});

/** Reads the durabletask_extension key the host keeps in its state folder. */
async function systemKey(_baseUrl: string, stateDir: string): Promise<string> {
  const { readFileSync } = await import("node:fs");
  const keys = JSON.parse(readFileSync(join(stateDir, "keys.json"), "utf8")) as Record<string, unknown>;
  const found = JSON.stringify(keys).match(/"durabletask_extension"\s*:\s*"([^"]+)"/);
  if (!found) throw new Error(`no durabletask_extension key in ${stateDir}/keys.json`);
  return found[1] as string;
}
