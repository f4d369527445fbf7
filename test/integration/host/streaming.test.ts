import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { startHost, type RunningHost } from "../../../emulator/host/host.js";

// An app that calls app.setup({ enableHttpStream: true }); it runs in its own test file because that
// setting is global to the process's @azure/functions.
const appDir = resolve(
  fileURLToPath(new URL(".", import.meta.url)),
  "../../../../test/fixtures/streaming-app",
);

describe("HTTP streaming apps", () => {
  let host: RunningHost;
  let stateDir: string;

  before(async () => {
    stateDir = mkdtempSync(join(tmpdir(), "host-stream-"));
    host = await startHost({
      appDir,
      port: 0,
      stateDir,
      extensions: [],
      azurite: false,
      logLevel: "warn",
      logSink: () => {},
    });
  });
  after(async () => {
    await host?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  test("a request body is streamed to the function with its route parameters, headers and URL", async () => {
    const payload = Buffer.alloc(3 * 1024 * 1024, 7);
    const res = await fetch(`${host.baseUrl}/api/upload/big?code=${host.functionKey("upload")}`, {
      method: "POST",
      headers: { "x-tag": "t1" },
      body: payload,
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, unknown>;
    assert.deepEqual(
      { name: body.name, bytes: body.bytes, tag: body.tag },
      { name: "big", bytes: payload.length, tag: "t1" },
    );
    assert.match(String(body.url), /\/api\/upload\/big\?code=/);
  });

  test("keys are still required", async () => {
    const res = await fetch(`${host.baseUrl}/api/upload/x`, { method: "POST", body: "x" });
    assert.equal(res.status, 401);
  });

  test("a streamed response body reaches the client", async () => {
    const res = await fetch(`${host.baseUrl}/api/countdown`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "321");
  });

  test("a function that throws gives 500", async () => {
    const res = await fetch(`${host.baseUrl}/api/broken`);
    assert.equal(res.status, 500);
  });
});
