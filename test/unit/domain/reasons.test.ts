/**
 * The reasons orchestrations answer with: a code plus a sentence naming the values involved, never a
 * stack, never more than the first line of an error.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  activityFailed,
  apimNotProvisioned,
  apimUpdateFailed,
  CANCELLED,
  discoveryIncomplete,
  errorSentence,
  frontDoorNotDeployed,
  frontDoorNotRestored,
  leaseLost,
  newVersionSentences,
  probeDeadlineExceeded,
  resourceLocked,
  rollbackNotVerified,
  stageOrchestrationFailed,
  stayedBusy,
  unknownTargets,
  waitTimedOut,
  type Reason,
} from "../../../src/domain/reasons.js";

const certificate = { vaultName: "kv-contoso", certificateName: "api-cert" };
const thrown = new Error("ARM answered 500 Internal Server Error\n    at handler (arm.js:1:1)");

const cases: { name: string; reason: Reason; code: string; message: string }[] = [
  {
    name: "an activity that kept failing names what it was doing and the error's first line",
    reason: activityFailed(thrown, "Writing Secret prod/api-tls."),
    code: "ActivityFailed",
    message: "Writing Secret prod/api-tls failed after every retry: ARM answered 500 Internal Server Error",
  },
  {
    name: "a failed stage orchestration names the stage",
    reason: stageOrchestrationFailed(2, thrown),
    code: "StageOrchestrationFailed",
    message: "Stage 2 failed after every retry: ARM answered 500 Internal Server Error",
  },
  {
    name: "incomplete discovery names the certificate, the reads, what was found and every warning",
    reason: discoveryIncomplete({
      certificate,
      attempts: 4,
      found: 1,
      warnings: [{ reason: "ScopeUnreadable", message: "Subscription s answered 429." }],
    }),
    code: "DiscoveryIncomplete",
    message:
      "Binding discovery of kv-contoso/api-cert stayed incomplete after 4 reads (1 binding(s) found, others may be hidden); nothing was changed. ScopeUnreadable: Subscription s answered 429.",
  },
  {
    name: "unknown targets are listed",
    reason: unknownTargets(certificate, ["apim:x", "k8s:y"]),
    code: "UnknownTargets",
    message: "No binding of kv-contoso/api-cert matches apim:x, k8s:y.",
  },
  {
    name: "a wait that timed out names what it awaited and its deadline",
    reason: waitTimedOut("Stage 1 (kubernetes) serving the new certificate", "2030-01-01T00:05:00.000Z"),
    code: "Timeout",
    message: "Stage 1 (kubernetes) serving the new certificate: not done by 2030-01-01T00:05:00.000Z.",
  },
  {
    name: "a lost lease names the resource and its new holder",
    reason: leaseLost("apim-1", "rotate:kv:other"),
    code: "LeaseLost",
    message: "The lease on apim-1 expired and is now held by rotate:kv:other; nothing more was written.",
  },
  {
    name: "a locked service names its holder and the wait, in whole seconds",
    reason: resourceLocked({ serviceId: "apim-1", heldBy: "rotate:kv:other", waitSeconds: 3600.4 }),
    code: "ResourceLocked",
    message: "apim-1 stayed locked by rotate:kv:other for 3600 s.",
  },
  {
    name: "an APIM update still provisioning at its deadline names its last state",
    reason: apimNotProvisioned({ serviceId: "apim-1", deadlineSeconds: 900, state: "Updating" }),
    code: "ProvisioningTimeout",
    message: "APIM service apim-1 was still Updating after 900 s.",
  },
  {
    name: "an APIM update that kept failing names its round and service",
    reason: apimUpdateFailed({ round: 2, serviceId: "apim-1", error: thrown }),
    code: "ActivityFailed",
    message: "APIM update 2 of apim-1 failed after every retry: ARM answered 500 Internal Server Error",
  },
  {
    name: "a Front Door profile that did not deploy says so, without a state when none was read",
    reason: frontDoorNotDeployed({ profileId: "afd-1", deadlineSeconds: 600 }),
    code: "DeploymentTimeout",
    message: "Front Door profile afd-1 had not deployed the new secret after 600 s (no state).",
  },
  {
    name: "a Front Door profile that did not take the rollback says so",
    reason: frontDoorNotRestored({
      profileId: "afd-1",
      deadlineSeconds: 600,
      state: "ep Updating/InProgress",
    }),
    code: "DeploymentTimeout",
    message: "Front Door profile afd-1 had not taken the rollback after 600 s (ep Updating/InProgress).",
  },
  {
    name: "a probe deadline names each failing host and what it served",
    reason: probeDeadlineExceeded({
      stageIndex: 1,
      stage: "kubernetes",
      deadlineSeconds: 300,
      failing: [
        { hostName: "api.contoso.test", servedThumbprint: "OLD" },
        { hostName: "www.contoso.test", detail: "connection refused" },
      ],
    }),
    code: "ProbeDeadlineExceeded",
    message:
      "Stage 1 (kubernetes): after 300 s api.contoso.test still served OLD; www.contoso.test failed (connection refused).",
  },
  {
    name: "a probe deadline without failing evidence says the probes did not pass",
    reason: probeDeadlineExceeded({ stageIndex: 3, stage: "frontDoor", deadlineSeconds: 300, failing: [] }),
    code: "ProbeDeadlineExceeded",
    message: "Stage 3 (frontDoor): after 300 s the probes did not pass.",
  },
  {
    name: "an unverified rollback names what each host served instead",
    reason: rollbackNotVerified([
      { hostName: "api.contoso.test", servedThumbprint: "NEW" },
      { hostName: "www" },
    ]),
    code: "RollbackNotVerified",
    message: "api.contoso.test served NEW; www served nothing instead of the previous certificate.",
  },
];

for (const c of cases) {
  test(c.name, () => {
    assert.equal(c.reason.reason, c.code);
    assert.equal(c.reason.message, c.message);
    assert.ok(!c.reason.message.includes("\n"), "one line, no stack");
  });
}

test("a cancel is one reason everywhere, with the sentence the report and HTTP output show", () => {
  assert.deepEqual(CANCELLED, { reason: "Cancelled", message: "The rollout was cancelled on request." });
});

test("an error sentence keeps at most 400 characters of the first line, and never doubles a full stop", () => {
  const long = new Error(`${"x".repeat(500)}\nsecond line`);
  assert.equal(errorSentence(long, "Probing."), `Probing failed after every retry: ${"x".repeat(400)}`);
  assert.equal(
    errorSentence("plain text", "The rollout"),
    "The rollout failed after every retry: plain text",
  );
});

test("a busy timeout counts attempts and whole seconds, and falls back to 'busy' without a last answer", () => {
  assert.equal(
    stayedBusy({ describe: "Writing Secret prod/api-tls.", attempts: 3, elapsedSeconds: 61.6 }),
    "Writing Secret prod/api-tls: the target stayed busy through 3 attempt(s) over 62 s; last answer: busy",
  );
});

test("a missing new version says when the old one expires, or that nobody knows", () => {
  const o = { certificate, deadlineSeconds: 86400, issuerName: "DigiCert", version: "v1" };
  assert.match(
    newVersionSentences.noneAppeared({ ...o, expiresOn: "2030-02-01T00:00:00Z" }),
    /expires at 2030-02-01/,
  );
  assert.match(
    newVersionSentences.noneAppeared({ ...o, expiresOn: undefined }),
    /expires at an unknown time\.$/,
  );
  assert.equal(
    newVersionSentences.renewalNotDone(certificate, 3600),
    "The renewal of kv-contoso/api-cert did not complete within 3600 s.",
  );
});
