/**
 * Busy answers and error text through the real SDKs against the lab: a 409 without Retry-After is
 * `busy` marked `retryAfterSource: "default"` (the orchestration applies its own backoff), a 429's
 * Retry-After is passed on (never below 1 s), and a programming error's text (which could quote key
 * material) never reaches a message.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { after, before, test } from "node:test";
import { readCertificateHandler } from "../../../src/activities/readCertificate.js";
import { resolveBindingsHandler } from "../../../src/activities/resolveBindings.js";
import type { ReadCertificateOutput } from "../../../src/activities/contracts.js";
import { busyResult, describeSdkError, retriable } from "../../../src/azure/sdkErrors.js";
import { buildPlan } from "../../../src/domain/plan.js";
import { SEED } from "../../../emulator/lab/seed.js";
import { assertNoPrivateKey } from "../../support/secretScan.js";
import { startActivityWorld, type ActivityWorld } from "./activitySupport.js";
import { clearQueue, queueAndSend } from "./apimQueueSupport.js";
import { aStagePolicy } from "../../support/policyBuilders.js";

type Found = Extract<ReadCertificateOutput, { found: true }>;

let w: ActivityWorld;
before(async () => {
  w = await startActivityWorld({ storage: true });
});
after(async () => w?.dispose());

/** The APIM step of the seeded gateway certificate, pointed at a version id nobody uses. */
async function apimStep() {
  const vaultName = SEED.vault.name;
  const certificateName = SEED.certificates.apim.name;
  const cert = (await readCertificateHandler({ vaultName, certificateName }, w.context())) as Found;
  const { bindings } = await resolveBindingsHandler(
    { certificate: { vaultName, certificateName } },
    w.context(),
  );
  const plan = buildPlan({
    policy: aStagePolicy(),
    certificate: { vaultName, vaultUrl: cert.vaultUrl, certificateName, version: cert.version },
    bindings,
  });
  assert.ok(plan.ok);
  const step = plan.plan.stages[0]!.steps[0]!;
  if (step.kind !== "apimService") throw new Error("expected an APIM step");
  return step;
}

test("a 409 without Retry-After is busy with retryAfterSource 'default'", async () => {
  const step = await apimStep();
  const rule = w.lab.ctx.faults.add({
    service: "arm",
    kind: "status",
    status: 409,
    code: "Conflict",
    count: 1,
    match: "^GET .*/service/[^/]+$",
  });
  const out = await queueAndSend(w, step, "busy-409");
  await clearQueue(w, step.serviceId);
  assert.equal(
    w.lab.ctx.faults.list().some((f) => f.id === rule.id),
    false,
    "the fault was hit",
  );
  assert.equal(out.status, "busy", JSON.stringify(out));
  if (out.status !== "busy") return;
  assert.equal(out.retryAfterSource, "default");
  assert.ok(out.retryAfterSeconds >= 1);
  assert.equal(out.reason, "Conflict");
});

test("a 429 whose Retry-After is 0 stays busy after the SDK's retries, and asks for at least 1 s", async () => {
  const step = await apimStep();
  const rule = w.lab.ctx.faults.add({
    service: "arm",
    kind: "status",
    status: 429,
    retryAfterSeconds: 0,
    code: "TooManyRequests",
    count: 20,
    match: "^GET .*/service/[^/]+$",
  });
  try {
    const out = await queueAndSend(w, step, "busy-429");
    await clearQueue(w, step.serviceId);
    assert.equal(out.status, "busy", JSON.stringify(out));
    if (out.status !== "busy") return;
    assert.equal(out.retryAfterSource, "service");
    assert.equal(out.retryAfterSeconds, 1);
  } finally {
    w.lab.ctx.faults.remove(rule.id);
  }
});

test("the service's Retry-After is passed on as it was said", () => {
  const said = (headers: Record<string, string>) =>
    busyResult(describeSdkError({ statusCode: 429, code: "TooManyRequests", response: { headers } }, "x"));
  assert.deepEqual(
    [
      said({ "retry-after": "17" }),
      said({ "retry-after-ms": "2500" }),
      said({ "retry-after": "0" }),
      said({}),
    ].map((b) => [b.retryAfterSeconds, b.retryAfterSource]),
    [
      [17, "service"],
      [3, "service"],
      [1, "service"],
      [30, "default"],
    ],
  );
  assert.equal(
    retriable(describeSdkError({ statusCode: 503, headers: { "retry-after": "0" } }, "x")).retryAfterSeconds,
    1,
  );
});

test("a programming error's text never reaches the message; its name and place do", () => {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  for (const error of [
    new TypeError(`Cannot read properties of undefined (reading 'x') in ${pem}`),
    new RangeError(`Invalid key length: ${pem}`),
    new SyntaxError(`Unexpected token in JSON at position 0: ${pem}`),
  ]) {
    const f = describeSdkError(error, "Reading the vault secret");
    assertNoPrivateKey(f.message, privateKey, `the message of a ${error.name}`);
    assert.match(
      f.message,
      new RegExp(
        `^Reading the vault secret failed: ${error.name} at busy\\.test\\.js:\\d+:\\d+ \\(its text is withheld\\)\\.$`,
      ),
    );
    assert.equal(f.kind, "retriable");
  }
});
