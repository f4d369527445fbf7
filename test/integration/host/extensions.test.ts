import assert from "node:assert/strict";
import type { IncomingMessage, ServerResponse } from "node:http";
import { after, before, describe, test } from "node:test";
import type { ExtensionContext, FunctionBinding, HostExtension } from "../../../emulator/host/contract.js";
import { startSampleHost, type SampleHost } from "./sampleHost.js";

/** A small extension, as a binding extension would be written: owns queueTrigger and the sampleInput binding. */
class SampleExtension implements HostExtension {
  readonly name = "sample";
  readonly triggerTypes = ["queueTrigger"];
  readonly inputTypes = ["sampleInput"];
  context: ExtensionContext | undefined;
  stopped = false;

  start(context: ExtensionContext): Promise<void> {
    this.context = context;
    return Promise.resolve();
  }

  resolveInput(binding: FunctionBinding): unknown {
    return { label: binding.label, resolvedBy: this.name };
  }

  handle(_req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    if (!url.pathname.startsWith("/runtime/webhooks/sample/")) return Promise.resolve(false);
    res
      .writeHead(418, { "content-type": "text/plain" })
      .end(url.pathname.slice("/runtime/webhooks/sample/".length));
    return Promise.resolve(true);
  }

  stop(): Promise<void> {
    this.stopped = true;
    return Promise.resolve();
  }
}

describe("host extensions", () => {
  let sample: SampleHost;
  const extension = new SampleExtension();

  before(async () => {
    sample = await startSampleHost({ extensions: [extension], timeScale: 30 });
  });
  after(async () => {
    await sample?.stop();
  });

  test("an extension starts with the host's context", () => {
    const ctx = extension.context;
    assert.ok(ctx);
    assert.equal(ctx.baseUrl, sample.host.baseUrl);
    assert.equal(ctx.timeScale, 30);
    assert.equal(ctx.masterKey, sample.host.masterKey);
    assert.equal(ctx.stateDir, sample.stateDir);
    assert.equal(ctx.settings.SAMPLE_GREETING, "Hello from local.settings.json");
    assert.equal(ctx.systemKey("sample_extension"), sample.host.systemKey("sample_extension"));
    assert.equal(
      (ctx.hostJson.extensionBundle as { id: string }).id,
      "Microsoft.Azure.Functions.ExtensionBundle",
    );
    const manualJob = ctx.runtime.list().find((f) => f.name === "manualJob");
    assert.equal(manualJob?.trigger.type, "queueTrigger");
    assert.equal(manualJob?.trigger.queueName, "jobs");
  });

  test("an extension invokes a function of its trigger type through the runtime", async () => {
    const result = await extension.context?.runtime.invoke({
      functionName: "manualJob",
      triggerValue: { job: "from-extension" },
    });
    assert.deepEqual(result, { returnValue: undefined });
    const [run] = await sample.waitForRecords("manualJob", 1);
    assert.deepEqual(run?.item, { job: "from-extension" });
  });

  test("runtime.invoke rejects with the function's own error", async () => {
    await assert.rejects(
      extension.context?.runtime.invoke({
        functionName: "keyVaultEvents",
        triggerValue: { id: "1", subject: "fail-please" },
      }) ?? Promise.reject(new Error("no context")),
      /refusing event 1/,
    );
  });

  test("an input binding of the extension's type gets the value it resolves", async () => {
    const res = await fetch(`${sample.host.baseUrl}/api/with-input`);
    assert.deepEqual(await res.json(), { extra: { label: "from-binding", resolvedBy: "sample" } });
  });

  test("requests the host does not route are offered to the extension", async () => {
    const res = await fetch(`${sample.host.baseUrl}/runtime/webhooks/sample/ping`);
    assert.equal(res.status, 418);
    assert.equal(await res.text(), "ping");
    assert.equal((await fetch(`${sample.host.baseUrl}/runtime/webhooks/other`)).status, 404);
  });

  test("the admin API leaves functions of an extension's trigger type to the extension", async () => {
    const res = await fetch(`${sample.host.baseUrl}/admin/functions/manualJob`, {
      method: "POST",
      body: "{}",
      headers: { "x-functions-key": sample.host.masterKey },
    });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /the sample extension drives/);
  });

  test("stopping the host stops the extension", async () => {
    await sample.host.stop();
    assert.equal(extension.stopped, true);
  });
});
