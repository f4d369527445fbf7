import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { DefaultAzureCredential, ManagedIdentityCredential } from "@azure/identity";
import {
  AzureKeyCredential,
  AzureSASCredential,
  EventGridPublisherClient,
  generateSharedAccessSignature,
} from "@azure/eventgrid";
import { WellKnownIssuer, type CertificateClient } from "@azure/keyvault-certificates";
import { startTestLab, type TestLab } from "../../support/lab.js";
import { vaultId } from "../../../emulator/lab/seed.js";
import { certificateClient } from "./keyvaultSupport.js";
import { startWebhook, waitFor, type TestWebhook } from "./eventgridSupport.js";

let lab: TestLab;
let hook: TestWebhook;
let certs: CertificateClient;
const poll = { intervalInMs: 50 };

interface Delivery {
  subscription: string;
  eventType: string;
  subject: string;
  status: string;
  attempts: Array<{ at: string; statusCode?: number; outcome: string }>;
  deadLetterReason?: string;
  deadLetterFile?: string;
}

before(async () => {
  lab = await startTestLab();
  hook = await startWebhook();
  await lab.control("POST", "/lab/keyvault/settings", { createDelayMs: 100 });
  await lab.control("POST", "/lab/eventgrid/settings", { retryScale: 0.01 });
  certs = certificateClient(lab, new DefaultAzureCredential());
});
after(async () => {
  await hook?.close();
  await lab?.dispose();
});

const subscribe = (body: Record<string, unknown>) =>
  lab.control<{ provisioningState?: string; error?: { message: string } }>(
    "POST",
    "/lab/eventgrid/subscriptions",
    body,
  );
const deliveries = async (subscription: string): Promise<Delivery[]> =>
  (await lab.control<{ value: Delivery[] }>("GET", `/lab/eventgrid/deliveries?subscription=${subscription}`))
    .body.value;
const newVersion = async (name: string) =>
  (
    await certs.beginCreateCertificate(
      name,
      { issuerName: WellKnownIssuer.Self, subject: `CN=${name}.test` },
      poll,
    )
  ).pollUntilDone();

test("an Event Grid schema subscription is validated by handshake and receives CertificateNewVersionCreated with PascalCase data", async () => {
  const created = await subscribe({
    name: "kv-egschema",
    endpointUrl: `${hook.url}/eg`,
    schema: "EventGridSchema",
    subjectBeginsWith: "eg-",
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.provisioningState, "Succeeded");
  const handshake = hook.handshakes.find((h) => h.path === "/eg");
  assert.equal(handshake?.headers["aeg-event-type"], "SubscriptionValidation");

  const cert = await newVersion("eg-cert");
  const got = await waitFor(() => hook.received.find((r) => r.path === "/eg"), 5000, "a delivery on /eg");
  assert.equal(got.headers["aeg-event-type"], "Notification");
  assert.equal(got.headers["aeg-subscription-name"], "KV-EGSCHEMA");
  assert.equal(got.events.length, 1);
  const event = got.events[0]!;
  assert.equal(event.eventType, "Microsoft.KeyVault.CertificateNewVersionCreated");
  assert.equal(event.topic, vaultId(lab.ctx.seed));
  assert.equal(event.subject, "eg-cert");
  assert.equal(event.dataVersion, "1");
  const data = event.data as Record<string, unknown>;
  assert.deepEqual(Object.keys(data).sort(), [
    "EXP",
    "Id",
    "NBF",
    "ObjectName",
    "ObjectType",
    "VaultName",
    "Version",
  ]);
  assert.equal(data.Id, cert.properties.id);
  assert.equal(data.VaultName, "kv-contoso");
  assert.equal(data.ObjectType, "Certificate");
  assert.equal(data.ObjectName, "eg-cert");
  assert.equal(data.Version, cert.properties.version);
  assert.equal(data.EXP, cert.properties.expiresOn!.getTime() / 1000);
  assert.equal(data.NBF, cert.properties.notBefore!.getTime() / 1000);
  // The subject filter kept other certificates out.
  await newVersion("other-cert");
  assert.ok((await deliveries("kv-egschema")).every((d) => d.subject.startsWith("eg-")));
});

test("a CloudEvents subscription is validated with OPTIONS and receives the event with source = vault id and the same data", async () => {
  const created = await subscribe({
    name: "kv-cloudevents",
    endpointUrl: `${hook.url}/ce`,
    schema: "CloudEventSchemaV1_0",
    includedEventTypes: ["Microsoft.KeyVault.CertificateNewVersionCreated"],
    subjectBeginsWith: "ce-",
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const handshake = hook.handshakes.find((h) => h.path === "/ce");
  assert.equal(handshake?.method, "OPTIONS");
  assert.equal(handshake?.headers["webhook-request-origin"], "eventgrid.azure.net");
  const cert = await newVersion("ce-cert");
  const got = await waitFor(() => hook.received.find((r) => r.path === "/ce"), 5000, "a delivery on /ce");
  assert.match(String(got.headers["content-type"]), /^application\/cloudevents\+json/);
  const event = got.events[0]!;
  assert.equal(event.type, "Microsoft.KeyVault.CertificateNewVersionCreated");
  assert.equal(event.source, vaultId(lab.ctx.seed));
  assert.equal(event.specversion, "1.0");
  assert.equal(event.subject, "ce-cert");
  assert.equal((event.data as Record<string, unknown>).Version, cert.properties.version);
  assert.equal((event.data as Record<string, unknown>).ObjectName, "ce-cert");
});

test("a webhook that fails the handshake gets no subscription", async () => {
  hook.refuseHandshake.add("/refuse").add("/refuse-ce");
  const eg = await subscribe({ name: "kv-refused", endpointUrl: `${hook.url}/refuse` });
  assert.equal(eg.status, 400);
  assert.match(eg.body.error?.message ?? "", /Webhook validation handshake failed/);
  const ce = await subscribe({
    name: "kv-refused-ce",
    endpointUrl: `${hook.url}/refuse-ce`,
    schema: "CloudEventSchemaV1_0",
  });
  assert.equal(ce.status, 400);
  const list = (await lab.control<{ value: Array<{ name: string }> }>("GET", "/lab/eventgrid/subscriptions"))
    .body.value;
  assert.ok(!list.some((s) => s.name.startsWith("kv-refused")));
});

test("a failing webhook is retried on the (scaled) schedule, then the event is dead-lettered to a file", async () => {
  hook.respond.set("/down", 500);
  await subscribe({
    name: "kv-down",
    endpointUrl: `${hook.url}/down`,
    subjectBeginsWith: "down-",
    maxDeliveryAttempts: 3,
  });
  const cert = await newVersion("down-cert");
  const [d] = await waitFor(
    async () => {
      const list = await deliveries("kv-down");
      return list.length && list.every((x) => x.status === "deadLettered") ? list : undefined;
    },
    8000,
    "dead-lettering",
  );
  assert.equal(d!.attempts.length, 3);
  assert.deepEqual(
    d!.attempts.map((a) => a.statusCode),
    [500, 500, 500],
  );
  assert.equal(d!.deadLetterReason, "MaxDeliveryAttemptsExceeded");
  const times = d!.attempts.map((a) => Date.parse(a.at));
  // 10 s and 30 s scaled by 0.01.
  assert.ok(times[1]! - times[0]! >= 90, `second attempt after ${times[1]! - times[0]!} ms`);
  assert.ok(times[2]! - times[1]! >= 290, `third attempt after ${times[2]! - times[1]!} ms`);
  const deliveryCounts = hook.received
    .filter((r) => r.path === "/down")
    .map((r) => r.headers["aeg-delivery-count"]);
  assert.deepEqual(deliveryCounts, ["0", "1", "2"]);
  assert.ok(d!.deadLetterFile?.startsWith(`${lab.stateDir}/eventgrid/deadletter/`));
  const [letter] = JSON.parse(readFileSync(d!.deadLetterFile!, "utf8")) as Array<Record<string, unknown>>;
  assert.equal(letter!.deadLetterReason, "MaxDeliveryAttemptsExceeded");
  assert.equal(letter!.deliveryAttempts, 3);
  assert.equal(letter!.lastDeliveryOutcome, "GenericError");
  assert.equal(letter!.lastHttpStatusCode, 500);
  assert.equal((letter!.data as Record<string, unknown>).Version, cert.properties.version);
  assert.ok(letter!.publishTime && letter!.lastDeliveryAttemptTime);
});

test("400 is not retried (dead-lettered at once); a webhook that recovers gets the event on a later attempt", async () => {
  hook.respond.set("/bad", 400);
  await subscribe({ name: "kv-bad", endpointUrl: `${hook.url}/bad`, subjectBeginsWith: "bad-" });
  await newVersion("bad-cert");
  const [bad] = await waitFor(
    async () => {
      const list = await deliveries("kv-bad");
      return list.length && list[0]!.status !== "pending" ? list : undefined;
    },
    5000,
    "the 400 outcome",
  );
  assert.equal(bad!.status, "deadLettered");
  assert.equal(bad!.attempts.length, 1);
  assert.equal(bad!.deadLetterReason, "UndeliverableDueToHttpBadRequest");

  hook.respond.set("/flaky", (n) => (n < 3 ? 503 : 200));
  await subscribe({ name: "kv-flaky", endpointUrl: `${hook.url}/flaky`, subjectBeginsWith: "flaky-" });
  await newVersion("flaky-cert");
  const [ok] = await waitFor(
    async () => {
      const list = await deliveries("kv-flaky");
      return list.length && list[0]!.status === "delivered" ? list : undefined;
    },
    5000,
    "delivery after retries",
  );
  assert.deepEqual(
    ok!.attempts.map((a) => a.outcome),
    ["Busy", "Busy", "Delivered"],
  );
});

test("subscriptions persist; deleting one stops its deliveries", async () => {
  await subscribe({ name: "kv-temp", endpointUrl: `${hook.url}/temp`, subjectBeginsWith: "temp-" });
  assert.equal((await lab.control("GET", "/lab/eventgrid/subscriptions/kv-temp")).status, 200);
  assert.equal((await lab.control("DELETE", "/lab/eventgrid/subscriptions/kv-temp")).status, 200);
  await newVersion("temp-cert");
  await newVersion("eg-after-delete"); // a delivery we can wait for on another subscription
  await waitFor(() => hook.received.some((r) => r.events.some((e) => e.subject === "eg-after-delete")), 5000);
  assert.equal(hook.received.filter((r) => r.path === "/temp").length, 0);
});

test("the publisher client sends to the custom topic with a key, a SAS token or an Entra token; bad credentials are refused", async () => {
  const eg = lab.endpoints.eventGrid as { topicEndpoint: string; topicKey: string };
  const read = async () =>
    (
      await lab.control<{ value: Array<{ schema: string; event: Record<string, unknown> }> }>(
        "GET",
        "/lab/eventgrid/topics/rotation-outcomes/events",
      )
    ).body.value;
  const cloud = new EventGridPublisherClient(
    eg.topicEndpoint,
    "CloudEvent",
    new AzureKeyCredential(eg.topicKey),
  );
  await cloud.send([
    {
      type: "Contoso.CertRotation.RolloutSucceeded",
      source: "/e2e-cert-rotation",
      subject: "edge-contoso",
      data: { version: "v1" },
    },
  ]);
  const grid = new EventGridPublisherClient(
    eg.topicEndpoint,
    "EventGrid",
    new AzureKeyCredential(eg.topicKey),
  );
  await grid.send([
    {
      eventType: "Contoso.CertRotation.RolledBack",
      subject: "apim-gateway",
      dataVersion: "1.0",
      data: { reason: "probe" },
    },
  ]);
  const sas = await generateSharedAccessSignature(
    eg.topicEndpoint,
    new AzureKeyCredential(eg.topicKey),
    new Date(Date.now() + 3_600_000),
  );
  await new EventGridPublisherClient(eg.topicEndpoint, "CloudEvent", new AzureSASCredential(sas)).send([
    { type: "Contoso.CertRotation.Sas", source: "/sas", data: {} },
  ]);
  await new EventGridPublisherClient(eg.topicEndpoint, "CloudEvent", new DefaultAzureCredential()).send([
    { type: "Contoso.CertRotation.Token", source: "/token", data: { ok: true } },
  ]);
  const events = await read();
  assert.deepEqual(
    events.map((e) => [e.schema, e.event.type ?? e.event.eventType]),
    [
      ["CloudEventSchemaV1_0", "Contoso.CertRotation.RolloutSucceeded"],
      ["EventGridSchema", "Contoso.CertRotation.RolledBack"],
      ["CloudEventSchemaV1_0", "Contoso.CertRotation.Sas"],
      ["CloudEventSchemaV1_0", "Contoso.CertRotation.Token"],
    ],
  );
  assert.deepEqual(events[0]!.event.data, { version: "v1" });
  assert.equal(events[0]!.event.specversion, "1.0");

  const wrongKey = new EventGridPublisherClient(
    eg.topicEndpoint,
    "CloudEvent",
    new AzureKeyCredential("bm9wZQ=="),
  );
  await assert.rejects(wrongKey.send([{ type: "x", source: "/x", data: {} }]), { statusCode: 401 });
  const nobody = new EventGridPublisherClient(
    eg.topicEndpoint,
    "CloudEvent",
    new ManagedIdentityCredential({ clientId: lab.ctx.seed.identities.nobody.clientId }),
  );
  await assert.rejects(nobody.send([{ type: "x", source: "/x", data: {} }]), { statusCode: 403 });
  assert.equal((await read()).length, 4);
});
