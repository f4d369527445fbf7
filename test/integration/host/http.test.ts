import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startSampleHost, type SampleHost } from "./sampleHost.js";

describe("HTTP triggers through the local host", () => {
  let sample: SampleHost;
  let base: string;

  before(async () => {
    sample = await startSampleHost();
    base = `${sample.host.baseUrl}/api`;
  });
  after(async () => {
    await sample?.stop();
  });

  test("an optional route parameter is passed when present and absent otherwise", async () => {
    const withName = await fetch(`${base}/hello/ada`);
    assert.equal(withName.status, 200);
    assert.deepEqual(await withName.json(), { greeting: "Hello from local.settings.json", name: "ada" });
    const without = await fetch(`${base}/hello`);
    assert.deepEqual(await without.json(), { greeting: "Hello from local.settings.json", name: null });
  });

  test("a route constraint picks the function whose constraint the segment satisfies", async () => {
    const key = sample.host.masterKey;
    const byId = await fetch(`${base}/items/42?q=find`, { headers: { "x-functions-key": key } });
    assert.deepEqual(await byId.json(), { id: 42, q: "find", function: "getItem" });
    const byName = await fetch(`${base}/items/widget`, { headers: { "x-functions-key": key } });
    assert.deepEqual(await byName.json(), { name: "widget", function: "getItemByName" });
    const neither = await fetch(`${base}/items/12ab`, { headers: { "x-functions-key": key } });
    assert.equal(neither.status, 404);
  });

  test("a catch-all parameter takes the rest of the path, slashes included", async () => {
    const res = await fetch(`${base}/files/a/b/c%20d.txt`);
    assert.deepEqual(await res.json(), { path: "a/b/c d.txt" });
  });

  test("a %SETTING% in a route is resolved from the app settings", async () => {
    const res = await fetch(`${base}/routed/7`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "setting route 7");
  });

  test("a method the function does not accept is not routed", async () => {
    const res = await fetch(`${base}/hello/ada`, { method: "POST" });
    assert.equal(res.status, 404);
  });

  test("a function-level function refuses a request without a key or with a wrong key", async () => {
    const missing = await fetch(`${base}/items/1`);
    assert.equal(missing.status, 401);
    const wrongHeader = await fetch(`${base}/items/1`, { headers: { "x-functions-key": "not-a-key" } });
    assert.equal(wrongHeader.status, 401);
    const wrongCode = await fetch(`${base}/items/1?code=${sample.host.functionKey("echo")}`);
    assert.equal(wrongCode.status, 401, "another function's key is not valid here");
  });

  test("a function key, the host key and the master key are all accepted, as header or ?code=", async () => {
    const keys = [sample.host.functionKey("getItem"), sample.host.hostKey, sample.host.masterKey];
    for (const key of keys) {
      const viaHeader = await fetch(`${base}/items/3`, { headers: { "x-functions-key": key } });
      assert.equal(viaHeader.status, 200);
      const viaQuery = await fetch(`${base}/items/3?code=${encodeURIComponent(key)}`);
      assert.equal(viaQuery.status, 200);
    }
  });

  test("an admin-level function accepts only the master key", async () => {
    assert.equal((await fetch(`${base}/admin-only`)).status, 401);
    const withHostKey = await fetch(`${base}/admin-only`, {
      headers: { "x-functions-key": sample.host.hostKey },
    });
    assert.equal(withHostKey.status, 401);
    const withMaster = await fetch(`${base}/admin-only?code=${sample.host.masterKey}`);
    assert.equal(withMaster.status, 200);
    assert.equal(await withMaster.text(), "admin only");
  });

  test("the request body, headers and URL reach the function, and its status, headers and cookies come back", async () => {
    const res = await fetch(`${base}/echo/t-1?code=${sample.host.functionKey("echo")}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ certificate: "web", version: 3 }),
    });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get("x-echo-tag"), "t-1");
    assert.match(res.headers.get("set-cookie") ?? "", /^session=abc; Path=\/; HttpOnly/);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body.method, "PUT");
    assert.deepEqual(body.body, { certificate: "web", version: 3 });
    assert.equal(body.contentType, "application/json");
    assert.equal(body.functionName, "echo");
    assert.match(String(body.url), /\/api\/echo\/t-1\?code=/);
  });

  test("context.log lines carry the function name and invocation id", async () => {
    const res = await fetch(`${base}/echo/logs?code=${sample.host.masterKey}`, {
      method: "POST",
      body: "{}",
    });
    const { invocationId } = (await res.json()) as { invocationId: string };
    const line = sample.logs.find((l) => l.line.includes("echo warning") && l.line.includes(invocationId));
    assert.ok(line, `no log line with the invocation id ${invocationId}`);
    assert.equal(line.level, "warn");
    assert.match(line.line, /\[echo\]/);
  });

  test("pre- and post-invocation hooks run around the function", async () => {
    const res = await fetch(`${base}/hello/x`);
    assert.equal(res.headers.get("x-hook"), "pre:hello");
  });

  test("a function that throws gives 500 and its error is logged", async () => {
    const res = await fetch(`${base}/boom`);
    assert.equal(res.status, 500);
    assert.equal(await res.text(), "", "the error is not shown to the caller");
    assert.ok(
      sample.logs.some((l) => l.level === "error" && l.line.includes("boom: the function failed on purpose")),
    );
  });

  test("a function that returns nothing gives 204", async () => {
    const res = await fetch(`${base}/nothing`, { method: "DELETE" });
    assert.equal(res.status, 204);
  });

  test("an unknown path is 404", async () => {
    assert.equal((await fetch(`${base}/no-such-route`)).status, 404);
    assert.equal((await fetch(`${sample.host.baseUrl}/elsewhere`)).status, 404);
  });

  test("appStart hooks ran once when the app loaded", () => {
    assert.equal(sample.records("appStart").length, 1);
  });
});

describe("host state across restarts", () => {
  test("keys are generated at first start and kept in the state folder", async () => {
    const first = await startSampleHost();
    try {
      const master = first.host.masterKey;
      const fnKey = first.host.functionKey("getItem");
      await first.host.stop();
      const second = await startSampleHost({ stateDir: first.stateDir });
      try {
        assert.equal(second.host.masterKey, master);
        assert.equal(second.host.functionKey("getItem"), fnKey);
        const res = await fetch(`${second.host.baseUrl}/api/items/9?code=${fnKey}`);
        assert.equal(res.status, 200, "the app was loaded again and the old key still works");
      } finally {
        await second.stop();
      }
    } finally {
      // Stops the first host if the test failed before it did, and removes the shared state folder.
      await first.stop();
    }
  });
});
