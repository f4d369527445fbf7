/**
 * Readiness judgements of a wait (`pollUntil`): from one reading of a resource, is the awaited
 * condition done, not yet, or failed for good? Pure: the orchestrator calls the activity, then one of
 * these, so the judgement is table-tested without Durable. The readings are the activities' answers,
 * described here by shape only (the domain does not depend on activities).
 *
 * - {@link frontDoorDeployment}: every custom domain provisioned and deployed, on the new secret.
 * - {@link apimProvisioning}: the service provisioned, each host name on its new Key Vault secret id.
 * - {@link renewalCompletion}: Key Vault's pending renewal produced a version other than the old one.
 * - {@link newVersionAppearance}: an external issuer's new version appeared.
 * - {@link probeReadiness} / {@link probesUnreachable}: every probe passed / the probe call threw.
 */
import {
  deploymentFailed,
  probingFailedDetail,
  provisioningFailed,
  renewalFailed,
  renewalVanished,
} from "./reasons.js";
import type { ProbeEvidence, Reasoned } from "./rollback.js";

/** One judgement and what it was made from (`evidence` is what the wait shows and carries on). */
export type Judgement<E> = { evidence: E } & (
  { verdict: "done" } | { verdict: "pending" } | ({ verdict: "failed" } & Reasoned)
);

/** A state in words (provisioning, deployment, renewal). */
export interface StateEvidence {
  state: string;
}

const same = (a: string | undefined, b: string | undefined) =>
  (a ?? "").toLowerCase() === (b ?? "").toLowerCase();

/** How a Front Door custom domain reads (`readFrontDoorProfile`). */
export interface FrontDoorDomainReading {
  name: string;
  secretName?: string;
  provisioningState: string;
  deploymentStatus: string;
}

/**
 * Front Door: failed when a domain's provisioning or deployment failed; done when every domain is
 * provisioned, no longer deploying, and on `secretName` (when given and the domain names a secret).
 */
export function frontDoorDeployment(
  domains: readonly FrontDoorDomainReading[],
  secretName?: string,
): Judgement<StateEvidence> {
  const state = domains
    .map(
      (d) =>
        `${d.name} ${d.provisioningState}/${d.deploymentStatus}${d.secretName ? ` on ${d.secretName}` : ""}`,
    )
    .join(", ");
  const failed = domains.find(
    (d) => same(d.provisioningState, "failed") || same(d.deploymentStatus, "failed"),
  );
  if (failed) return { verdict: "failed", ...deploymentFailed(failed), evidence: { state } };
  const done = domains.every(
    (d) =>
      same(d.provisioningState, "succeeded") &&
      !same(d.deploymentStatus, "inprogress") &&
      (secretName === undefined || d.secretName === undefined || same(d.secretName, secretName)),
  );
  return { verdict: done ? "done" : "pending", evidence: { state } };
}

/** How an APIM service reads (`readApimService`). */
export interface ApimServiceReading {
  provisioningState: string;
  hostnames: readonly { hostName: string; keyVaultId?: string }[];
}

/** APIM: failed when the service's update failed; done when provisioned with every host name on its expected secret id. */
export function apimProvisioning(
  service: ApimServiceReading,
  expect: { serviceId: string; hostnames: readonly { hostName: string; keyVaultId: string }[] },
): Judgement<StateEvidence> {
  const state = service.provisioningState;
  if (same(state, "failed"))
    return { verdict: "failed", ...provisioningFailed(expect.serviceId), evidence: { state } };
  const pointed = expect.hostnames.every((h) =>
    service.hostnames.some((s) => same(s.hostName, h.hostName) && same(s.keyVaultId, h.keyVaultId)),
  );
  return { verdict: same(state, "succeeded") && pointed ? "done" : "pending", evidence: { state } };
}

/** How Key Vault's renewal operation reads (`readRenewal`). */
export type RenewalReading =
  | { status: "inProgress" }
  | { status: "completed"; version: string }
  | { status: "none"; version?: string }
  | ({ status: "failed" | "cancelled" } & Reasoned);

/**
 * A renewal started from version `startedFrom`: done when the operation completed (or is gone and a
 * version is current) with another version; a completed operation naming `startedFrom` is the
 * previous renewal's. Failed when the operation failed or was cancelled, or is gone with no new
 * version; otherwise pending.
 */
export function renewalCompletion(
  renewal: RenewalReading,
  startedFrom: string,
): Judgement<StateEvidence & { version?: string }> {
  const stale =
    (renewal.status === "completed" || renewal.status === "none") && same(renewal.version, startedFrom);
  if (!stale && (renewal.status === "completed" || (renewal.status === "none" && renewal.version)))
    return { verdict: "done", evidence: { state: renewal.status, version: renewal.version } };
  if (renewal.status === "failed" || renewal.status === "cancelled")
    return { verdict: "failed", ...renewalFailed(renewal), evidence: { state: renewal.status } };
  if (renewal.status === "none" && !stale)
    return { verdict: "failed", ...renewalVanished, evidence: { state: renewal.status } };
  return { verdict: "pending", evidence: { state: renewal.status } };
}

/** How a certificate reads (`readCertificate`): found with its version, or why not. */
export type CertificateReading = { found: true; version: string } | { found: false; message: string };

/** An external issuer's new version: done when the current version is no longer `current`. */
export function newVersionAppearance<C extends CertificateReading>(
  now: C,
  current: string,
): Judgement<{ version: string; certificate: Extract<C, { found: true }> } | StateEvidence> {
  if (now.found && !same(now.version, current))
    return {
      verdict: "done",
      evidence: { version: now.version, certificate: now as Extract<C, { found: true }> },
    };
  return { verdict: "pending", evidence: { state: now.found ? `still ${now.version}` : now.message } };
}

/** Probes: done when every probe passed (`probeEndpoints` answers `ok`). */
export function probeReadiness(answer: { ok: boolean; evidence: ProbeEvidence[] }): Judgement<{
  probes: ProbeEvidence[];
}> {
  return { verdict: answer.ok ? "done" : "pending", evidence: { probes: answer.evidence } };
}

/**
 * Probes whose call threw after every retry: not yet (a deadline decides), each probe failed at
 * `at` with the error's first line.
 */
export function probesUnreachable(
  probes: readonly Pick<ProbeEvidence, "hostName" | "expect">[],
  at: string,
  error: unknown,
): Judgement<{ probes: ProbeEvidence[] }> {
  return {
    verdict: "pending",
    evidence: {
      probes: probes.map((p) => ({
        hostName: p.hostName,
        expect: p.expect,
        at,
        ok: false,
        detail: probingFailedDetail(error),
      })),
    },
  };
}
