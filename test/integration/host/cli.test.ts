import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { ensureAzurite, type AzuriteHandle } from "../../../emulator/host/azurite.js";
import { sampleAppDir, waitFor } from "./sampleHost.js";

const mainJs = fileURLToPath(new URL("../../../emulator/host/main.js", import.meta.url));

test("`host --app <dir> --port 0` serves the app until SIGTERM, then exits cleanly", async () => {
  const stateDir = mkdtempSync(join(tmpdir(), "host-cli-"));
  let azurite: AzuriteHandle | undefined;
  let child: ChildProcess | undefined;
  let output = "";
  try {
    // The sample app may contain durable functions: give the Durable extension a private storage emulator.
    azurite = await ensureAzurite({ location: join(stateDir, "azurite"), ports: "ephemeral" });
    const host = spawn(
      process.execPath,
      [mainJs, "--app", sampleAppDir, "--port", "0", "--state-dir", stateDir, "--no-azurite"],
      {
        env: { ...process.env, AzureWebJobsStorage: azurite.connectionString },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    child = host;
    host.stdout.on("data", (c: Buffer) => (output += c.toString()));
    host.stderr.on("data", (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => host.once("exit", (code) => resolve(code)));
    const baseUrl = await waitFor(
      "the host to start",
      () => /Host started at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1],
      20_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${output}`);
    });
    const res = await fetch(`${baseUrl}/api/hello/cli`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { greeting: "Hello from local.settings.json", name: "cli" });
    assert.match(output, /\[hello\] \[[0-9a-f-]{36}\] greeting cli/);
    host.kill("SIGTERM");
    assert.equal(await exited, 0, output);
    assert.match(output, /Host stopped\./);
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child!.once("exit", resolve));
      child.kill("SIGKILL");
      await gone;
    }
    await azurite?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test("`host` refuses an invalid option with its usage", async () => {
  const child = spawn(process.execPath, [mainJs, "--port", "http"], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stderr.on("data", (c: Buffer) => (output += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  assert.equal(code, 1);
  assert.match(output, /--port must be a port number, got 'http'/);
  assert.match(output, /Usage: npm run host/);
});
