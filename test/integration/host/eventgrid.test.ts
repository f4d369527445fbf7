import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { startSampleHost, type SampleHost } from "./sampleHost.js";

function keyVaultEvent(subject: string): Record<string, unknown> {
  return {
    id: randomUUID(),
    topic: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv1",
    subject,
    eventType: "Microsoft.KeyVault.CertificateNewVersionCreated",
    eventTime: new Date().toISOString(),
    data: {
      Id: `https://kv1.vault.azure.net/certificates/${subject}/v2`,
      VaultName: "kv1",
      ObjectName: subject,
      Version: "v2",
    },
    dataVersion: "1",
    metadataVersion: "1",
  };
}

function keyVaultCloudEvent(subject: string): Record<string, unknown> {
  return {
    specversion: "1.0",
    id: randomUUID(),
    source: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv1",
    subject,
    type: "Microsoft.KeyVault.CertificateNearExpiry",
    time: new Date().toISOString(),
    datacontenttype: "application/json",
    data: { VaultName: "kv1", ObjectName: subject, NBF: 1559081980, EXP: 1559082102 },
  };
}

describe("Event Grid trigger delivery at /runtime/webhooks/eventgrid", () => {
  let sample: SampleHost;
  let webhook: string;

  before(async () => {
    sample = await startSampleHost();
    webhook = `${sample.host.baseUrl}/runtime/webhooks/eventgrid?functionName=keyVaultEvents&code=${sample.host.systemKey("eventgrid_extension")}`;
  });
  after(async () => {
    await sample?.stop();
  });

  const post = (url: string, body: unknown, headers: Record<string, string>): Promise<Response> =>
    fetch(url, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });

  test("the Event Grid subscription validation handshake echoes the validation code", async () => {
    const code = randomUUID();
    const res = await post(
      webhook,
      [
        {
          id: randomUUID(),
          topic: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv1",
          subject: "",
          eventType: "Microsoft.EventGrid.SubscriptionValidationEvent",
          eventTime: new Date().toISOString(),
          data: { validationCode: code, validationUrl: "https://example.invalid/validate" },
          dataVersion: "2",
        },
      ],
      { "content-type": "application/json", "aeg-event-type": "SubscriptionValidation" },
    );
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { validationResponse: code });
    assert.equal(sample.records("eventGrid").length, 0, "the handshake does not invoke the function");
  });

  test("the CloudEvents abuse-protection handshake allows the requesting origin", async () => {
    const res = await fetch(webhook, {
      method: "OPTIONS",
      headers: { "WebHook-Request-Origin": "eventgrid.azure.net" },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("webhook-allowed-origin"), "eventgrid.azure.net");
    const other = await fetch(webhook, {
      method: "OPTIONS",
      headers: { "WebHook-Request-Origin": "lab.localtest" },
    });
    assert.equal(other.headers.get("webhook-allowed-origin"), "lab.localtest");
  });

  test("each event of an Event Grid schema array invokes the function once with that event", async () => {
    const events = [keyVaultEvent("eg-one"), keyVaultEvent("eg-two")];
    const res = await post(webhook, events, {
      "content-type": "application/json",
      "aeg-event-type": "Notification",
    });
    assert.equal(res.status, 202);
    const got = (await sample.waitForRecords("eventGrid", 2)).filter((r) =>
      String((r.event as Record<string, unknown>).subject).startsWith("eg-"),
    );
    assert.deepEqual(
      got
        .map((r) => r.event)
        .sort((a, b) =>
          String((a as { subject: string }).subject).localeCompare((b as { subject: string }).subject),
        ),
      events,
    );
    assert.notEqual(got[0]?.invocationId, got[1]?.invocationId);
    assert.deepEqual((got[0]?.triggerMetadata as { data: unknown }).data, {
      id: `https://kv1.vault.azure.net/certificates/${String((got[0]?.event as { subject: string }).subject)}/v2`,
      vaultName: "kv1",
      objectName: (got[0]?.event as { subject: string }).subject,
      version: "v2",
    });
  });

  test("a structured-mode CloudEvent and a CloudEvents batch reach the function", async () => {
    const before = sample.records("eventGrid").length;
    const single = keyVaultCloudEvent("ce-single");
    const r1 = await post(webhook, single, {
      "content-type": "application/cloudevents+json; charset=utf-8",
      "aeg-event-type": "Notification",
    });
    assert.equal(r1.status, 202);
    const batch = [keyVaultCloudEvent("ce-batch-1"), keyVaultCloudEvent("ce-batch-2")];
    const r2 = await post(webhook, batch, { "content-type": "application/cloudevents-batch+json" });
    assert.equal(r2.status, 202);
    const all = await sample.waitForRecords("eventGrid", before + 3);
    const received = all
      .map((r) => r.event as Record<string, unknown>)
      .filter((e) => String(e.subject).startsWith("ce-"));
    assert.deepEqual(
      received.sort((a, b) => String(a.subject).localeCompare(String(b.subject))),
      [...batch, single],
    );
  });

  test("malformed payloads are refused with 400 and a message, without invoking the function", async () => {
    const before = sample.records("eventGrid").length;
    const cases: { body: unknown; headers: Record<string, string>; message: RegExp }[] = [
      { body: "{not json", headers: { "aeg-event-type": "Notification" }, message: /not valid JSON/ },
      {
        body: [{ ...keyVaultEvent("x"), eventType: undefined }],
        headers: { "aeg-event-type": "Notification" },
        message: /'eventType'/,
      },
      {
        body: [{ ...keyVaultCloudEvent("x"), source: 5 }],
        headers: { "content-type": "application/cloudevents-batch+json" },
        message: /'source'/,
      },
      {
        body: [keyVaultCloudEvent("x")],
        headers: { "content-type": "application/cloudevents+json" },
        message: /one JSON object/,
      },
      {
        body: keyVaultCloudEvent("x"),
        headers: { "content-type": "application/cloudevents-batch+json" },
        message: /JSON array/,
      },
      { body: [], headers: { "aeg-event-type": "Notification" }, message: /no event/ },
      {
        body: [keyVaultEvent("x"), keyVaultCloudEvent("y")],
        headers: { "aeg-event-type": "Notification" },
        message: /mixes/,
      },
      {
        body: [{ data: {} }],
        headers: { "aeg-event-type": "SubscriptionValidation" },
        message: /validationCode/,
      },
      {
        body: [keyVaultEvent("x")],
        headers: { "aeg-event-type": "Bogus" },
        message: /Unknown aeg-event-type/,
      },
    ];
    for (const c of cases) {
      const res = await post(webhook, c.body, c.headers);
      assert.equal(res.status, 400, `expected 400 for ${JSON.stringify(c.body)}`);
      assert.match(await res.text(), c.message);
    }
    assert.equal(sample.records("eventGrid").length, before);
  });

  test("the webhook needs the eventgrid_extension system key or the master key", async () => {
    const base = `${sample.host.baseUrl}/runtime/webhooks/eventgrid?functionName=keyVaultEvents`;
    const headers = { "aeg-event-type": "Notification" };
    assert.equal((await post(base, [keyVaultEvent("k")], headers)).status, 401);
    assert.equal(
      (await post(`${base}&code=${sample.host.hostKey}`, [keyVaultEvent("k")], headers)).status,
      401,
    );
    assert.equal((await fetch(base, { method: "OPTIONS" })).status, 401);
    const master = await post(`${base}&code=${sample.host.masterKey}`, [keyVaultEvent("k-master")], headers);
    assert.equal(master.status, 202);
  });

  test("an unknown or non-Event Grid function is 404", async () => {
    const key = sample.host.systemKey("eventgrid_extension");
    for (const name of ["nope", "hello"]) {
      const res = await post(
        `${sample.host.baseUrl}/runtime/webhooks/eventgrid?functionName=${name}&code=${key}`,
        [keyVaultEvent("z")],
        {
          "aeg-event-type": "Notification",
        },
      );
      assert.equal(res.status, 404);
      assert.match(await res.text(), new RegExp(`cannot find function: '${name}'`));
    }
  });

  test("a failing invocation gives 500 with its message so that Event Grid redelivers", async () => {
    const bad = keyVaultEvent("fail-please");
    const res = await post(webhook, [bad], { "aeg-event-type": "Notification" });
    assert.equal(res.status, 500);
    assert.equal(await res.text(), `refusing event ${String(bad.id)}`);
  });
});
