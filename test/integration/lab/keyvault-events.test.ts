import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { CertificateClient } from "@azure/keyvault-certificates";
import { startTestLab, type TestLab } from "../../support/lab.js";
import { certificateClient, labTokenCredential } from "./keyvaultSupport.js";
import { startWebhook, waitFor, type TestWebhook } from "./eventgridSupport.js";

let lab: TestLab;
let hook: TestWebhook;

before(async () => {
  lab = await startTestLab();
  hook = await startWebhook();
  await lab.control("POST", "/lab/keyvault/settings", { createDelayMs: 100 });
  for (const [name, schema] of [
    ["clock-eg", "EventGridSchema"],
    ["clock-ce", "CloudEventSchemaV1_0"],
  ] as const) {
    const created = await lab.control("POST", "/lab/eventgrid/subscriptions", {
      name,
      endpointUrl: `${hook.url}/${name}`,
      schema,
    });
    assert.equal(created.status, 201);
  }
});
after(async () => {
  await hook?.close();
  await lab?.dispose();
});

/** Tokens carry lab-clock expiry, so each step after moving the clock uses a token minted at lab time. */
const client = (): CertificateClient => certificateClient(lab, labTokenCredential(lab, "operator"));

const advanceDays = async (days: number) => {
  const res = await lab.control("POST", "/lab/clock/advance", { days });
  assert.equal(res.status, 200);
};

/** Events of `type` received on `path`, as [subject, version] pairs (either schema). */
const received = (path: string, type: string): Array<[string, string]> =>
  hook.received
    .filter((r) => r.path === path)
    .flatMap((r) => r.events)
    .filter((e) => (e.eventType ?? e.type) === type)
    .map((e) => [String(e.subject), String((e.data as Record<string, unknown>).Version)]);

const seeded = () =>
  Object.values(lab.ctx.seed.certificates)
    .map((c) => c.name)
    .sort();

test("AutoRenew at days-before-expiry makes a new version when the lab clock passes it; EmailContacts is recorded", async () => {
  const created = await (
    await client().beginCreateCertificate(
      "auto-renew",
      {
        issuerName: "LabCA",
        subject: "CN=auto.test",
        validityInMonths: 12,
        lifetimeActions: [{ action: "AutoRenew", daysBeforeExpiry: 40 }],
      },
      { intervalInMs: 50 },
    )
  ).pollUntilDone();
  await waitFor(
    () => received("/clock-eg", "Microsoft.KeyVault.CertificateNewVersionCreated").length >= 1,
    5000,
  );

  await advanceDays(330);
  const renewed = await waitFor(
    () =>
      received("/clock-eg", "Microsoft.KeyVault.CertificateNewVersionCreated").find(
        ([s, v]) => s === "auto-renew" && v !== created.properties.version,
      ),
    5000,
    "the auto-renewed version's event",
  );
  const latest = await client().getCertificate("auto-renew");
  assert.equal(latest.properties.version, renewed[1]);
  assert.ok(latest.properties.expiresOn!.getTime() > created.properties.expiresOn!.getTime());
  // Seeded certificates (EmailContacts at 80 %) were "emailed" once each, at day ~292.
  const notes = (
    await lab.control<{ value: Array<{ certificate: string; action: string }> }>(
      "GET",
      "/lab/keyvault/notifications",
    )
  ).body.value;
  assert.deepEqual(notes.map((n) => n.certificate).sort(), seeded());
  assert.ok(notes.every((n) => n.action === "EmailContacts"));
  assert.deepEqual(received("/clock-eg", "Microsoft.KeyVault.CertificateNearExpiry"), []);
});

test("CertificateNearExpiry 30 days before expiry, once per current version, in both schemas", async () => {
  await advanceDays(6); // day 336 of a 365-day certificate
  const wanted = seeded();
  const eg = await waitFor(
    () => {
      const got = received("/clock-eg", "Microsoft.KeyVault.CertificateNearExpiry");
      return got.length >= wanted.length ? got : undefined;
    },
    5000,
    "near-expiry on the Event Grid schema subscription",
  );
  assert.deepEqual(eg.map(([s]) => s).sort(), wanted, "the renewed certificate is not near expiry");
  const ce = await waitFor(
    () => {
      const got = received("/clock-ce", "Microsoft.KeyVault.CertificateNearExpiry");
      return got.length >= wanted.length ? got : undefined;
    },
    5000,
    "near-expiry on the CloudEvents subscription",
  );
  assert.deepEqual(ce.map(([s]) => s).sort(), wanted);
  const edge = await client().getCertificate(lab.ctx.seed.certificates.edge.name);
  assert.ok(eg.some(([s, v]) => s === edge.name && v === edge.properties.version));
  const ceEvent = hook.received
    .filter((r) => r.path === "/clock-ce")
    .flatMap((r) => r.events)
    .find((e) => e.type === "Microsoft.KeyVault.CertificateNearExpiry" && e.subject === edge.name)!;
  assert.equal((ceEvent.data as Record<string, unknown>).EXP, edge.properties.expiresOn!.getTime() / 1000);
  await advanceDays(1);
  await lab.control("POST", "/lab/keyvault/evaluate");
  assert.equal(
    received("/clock-eg", "Microsoft.KeyVault.CertificateNearExpiry").length,
    wanted.length,
    "not repeated",
  );
});

test("CertificateExpired once the clock passes expiry, once per version", async () => {
  await advanceDays(30);
  const wanted = seeded();
  const expired = await waitFor(
    () => {
      const got = received("/clock-eg", "Microsoft.KeyVault.CertificateExpired");
      return got.length >= wanted.length ? got : undefined;
    },
    5000,
    "expired events",
  );
  assert.deepEqual(expired.map(([s]) => s).sort(), wanted);
  await advanceDays(1);
  await lab.control("POST", "/lab/keyvault/evaluate");
  assert.equal(received("/clock-eg", "Microsoft.KeyVault.CertificateExpired").length, wanted.length);
  assert.equal(received("/clock-ce", "Microsoft.KeyVault.CertificateExpired").length, wanted.length);
});
