import assert from "node:assert/strict";
import { test } from "node:test";
import {
  heldSentence,
  holdChange,
  holding,
  parseRetryRoute,
  type HoldChange,
} from "../../../src/domain/heldVersion.js";
import { heldEventVersion } from "../../../src/domain/eventDecision.js";
import type { CertificateEvent } from "../../../src/domain/keyVaultEvent.js";
import type { RolloutReport } from "../../../src/domain/report.js";
import { aReport } from "../../support/reportBuilders.js";

const FINISHED = "2026-06-01T12:30:00.000Z";
const ended = (state: string, over: Partial<RolloutReport> = {}): RolloutReport =>
  aReport({
    finishedAt: FINISHED,
    outcome: { state, reason: `${state}Reason`, message: `It ended ${state}.` } as RolloutReport["outcome"],
    ...over,
  });

const cases: { name: string; report: RolloutReport; action: HoldChange["action"] }[] = [
  { name: "a rolled-back version is held", report: ended("RolledBack"), action: "hold" },
  { name: "a rejected version is held", report: ended("Rejected"), action: "hold" },
  { name: "a version that needs attention is held", report: ended("NeedsAttention"), action: "hold" },
  { name: "a verified version is released", report: ended("Succeeded"), action: "release" },
  { name: "a cancelled rollout holds nothing", report: ended("Cancelled"), action: "none" },
  {
    name: "a dry run holds and releases nothing",
    report: ended("Rejected", { dryRun: true }),
    action: "none",
  },
  { name: "a running rollout changes nothing", report: aReport(), action: "none" },
  {
    name: "a failure before any version was known holds nothing",
    report: ended("NeedsAttention", { versions: {} }),
    action: "none",
  },
];

for (const c of cases) test(c.name, () => assert.equal(holdChange(c.report).action, c.action));

test("a hold names the version, the failed run, its state and when", () => {
  const change = holdChange(ended("RolledBack"));
  assert.deepEqual(change, {
    action: "hold",
    held: {
      version: "v2",
      state: "RolledBack",
      reason: "RolledBackReason",
      message: "It ended RolledBack.",
      runId: "rotate:kv-contoso:ingress-tls@2026-06-01T12:00:00.000Z",
      heldAt: FINISHED,
    },
  });
  const held = change.action === "hold" ? change.held : undefined;
  assert.equal(holding(held, "V2"), held, "version ids compare case-insensitively");
  assert.equal(holding(held, "v3"), undefined, "a newer version is not held");
  assert.match(
    heldSentence({ vaultName: "kv-contoso", certificateName: "ingress-tls" }, held!),
    /v2 .* is held: .* ended RolledBack .*POST \/api\/certificates\/kv-contoso\/ingress-tls\/retry/,
  );
});

const config = { allowedVaultUrls: ["https://kv-contoso.vault.azure.net/"] };
const routes: { name: string; params: { vault?: string; certificate?: string }; field?: string }[] = [
  {
    name: "an allowed vault and a valid name are accepted",
    params: { vault: "kv-contoso", certificate: "api-tls" },
  },
  {
    name: "a vault outside the allow-list is refused",
    params: { vault: "kv-other", certificate: "a" },
    field: "vault",
  },
  { name: "a missing vault is refused", params: { certificate: "a" }, field: "vault" },
  {
    name: "a certificate name with a space is refused",
    params: { vault: "kv-contoso", certificate: "api tls" },
    field: "certificate",
  },
  {
    name: "a certificate name with a dot is refused",
    params: { vault: "kv-contoso", certificate: "api.tls" },
    field: "certificate",
  },
];
for (const r of routes)
  test(r.name, () => {
    const parsed = parseRetryRoute(r.params, config);
    assert.equal(parsed.ok ? undefined : parsed.field, r.field, JSON.stringify(parsed));
  });

test("a NewVersionCreated of the held version starts nothing; of another version, or an expiry, it does", () => {
  const change = holdChange(ended("RolledBack"));
  const held = change.action === "hold" ? change.held : undefined;
  const event = (kind: CertificateEvent["kind"], version: string) => ({
    kind,
    vaultName: "kv-contoso",
    certificateName: "ingress-tls",
    version,
  });
  assert.match(heldEventVersion(event("CertificateNewVersionCreated", "v2"), held) ?? "", /v2 .* is held/);
  assert.equal(heldEventVersion(event("CertificateNewVersionCreated", "v3"), held), undefined);
  assert.equal(heldEventVersion(event("CertificateNearExpiry", "v2"), held), undefined);
  assert.equal(heldEventVersion(event("CertificateNewVersionCreated", "v2"), undefined), undefined);
});
