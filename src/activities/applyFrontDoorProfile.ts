/**
 * Activity `applyFrontDoorProfile`: PUTs a customer-certificate secret for the new version
 * (create-or-replace, so a retry is harmless), then PATCHes each custom domain to it. The previous
 * secrets stay, so rollback is a repoint. Does not wait for the edge deployment.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition, type Composition } from "../composition.js";
import {
  domainSecret,
  frontDoorProfileId,
  putSecret,
  repointDomain,
  secretInfo,
} from "../azure/frontDoor.js";
import { busyResult, describeSdkError, retriable } from "../azure/sdkErrors.js";
import { servedVersion } from "../azure/servedVersion.js";
import { secretSourceParts } from "../domain/pinning.js";
import type { FrontDoorProfileSnapshot } from "../domain/rollback.js";
import type { ApplyFrontDoorProfileInput, ApplyFrontDoorProfileOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

/**
 * The version a previous secret serves: its pinned `secretVersion`, or for a 'Latest' secret the
 * vault version with its thumbprint (so that a rollback can pin it; see src/domain/pinning.ts).
 */
async function previousVersionOf(
  c: Composition,
  prev: Awaited<ReturnType<typeof secretInfo>>,
): Promise<
  Pick<FrontDoorSnapshotDomain, "previousVersion" | "previousFollowsLatest" | "previousSecretSourceId">
> {
  if (!prev.useLatestVersion) return prev.secretVersion ? { previousVersion: prev.secretVersion } : {};
  const source = secretSourceParts(prev.secretSourceId);
  const version = source
    ? await servedVersion(c, c.vaultUrl(source.vaultName), source.name, prev.thumbprint)
    : undefined;
  return {
    previousFollowsLatest: true,
    ...(prev.secretSourceId ? { previousSecretSourceId: prev.secretSourceId } : {}),
    ...(version ? { previousVersion: version } : {}),
  };
}

type FrontDoorSnapshotDomain = FrontDoorProfileSnapshot["customDomains"][number];

/** Creates the new secret and repoints the profile's custom domains. */
export async function applyFrontDoorProfileHandler(
  input: ApplyFrontDoorProfileInput,
  context: InvocationContext,
): Promise<ApplyFrontDoorProfileOutput> {
  const c = composition();
  const { step } = input;
  const p = frontDoorProfileId(step.profileId);
  const client = c.cdnClient(p.subscriptionId);
  const snapshot: FrontDoorProfileSnapshot = {
    kind: "frontDoorProfile",
    customDomains: [],
    createdSecretName: step.newSecretName,
  };
  let repointed = 0;
  // Whether any domain is on the new secret already (repointed now or by an earlier attempt).
  let landed = false;
  try {
    // 1. Snapshot: each domain's secret now (the plan's previous one when this step already ran).
    const domains: { name: string; hostName: string; current?: string; minimumTlsVersion?: string }[] = [];
    for (const d of step.customDomains) {
      const now = await domainSecret(client, p, d.name);
      const previousSecretName =
        now.secretName && now.secretName !== step.newSecretName ? now.secretName : d.previousSecretName;
      const prev = await secretInfo(client, p, previousSecretName).catch(() => undefined);
      snapshot.customDomains.push({
        name: d.name,
        hostName: d.hostName,
        previousSecretName,
        ...(prev ? await previousVersionOf(c, prev) : {}),
        ...(prev?.thumbprint ? { previousThumbprint: prev.thumbprint.toUpperCase() } : {}),
      });
      domains.push({
        ...d,
        ...(now.secretName ? { current: now.secretName } : {}),
        ...(now.minimumTlsVersion ? { minimumTlsVersion: now.minimumTlsVersion } : {}),
      });
      if (now.secretName === step.newSecretName) landed = true;
    }
    // 2. The secret for the new version (create-or-replace).
    await putSecret(
      client,
      p,
      step.newSecretName,
      step.secretSourceId,
      step.secretVersion,
      Math.max(50, 1000 / c.config.timeScale),
    );
    // 3. Repoint every custom domain not pointing at it yet.
    for (const d of domains) {
      if (d.current === step.newSecretName) continue;
      await repointDomain(client, p, d.name, step.newSecretName, d.minimumTlsVersion);
      repointed++;
      landed = true;
    }
    context.log(
      `applyFrontDoorProfile: ${p.name}: secret ${step.newSecretName} created, ${repointed} domain(s) repointed.`,
    );
    return {
      status: "applied",
      snapshot,
      ...(repointed === 0 ? { detail: "domains already pointed at the new secret" } : {}),
    };
  } catch (e) {
    const f = describeSdkError(e, `Updating Front Door profile ${p.name}`);
    context.warn(`applyFrontDoorProfile: ${f.message}`);
    // 409/429 part-way: calling again is idempotent (the snapshot falls back on the plan's previous
    // secret for domains already moved), so it stays busy; `partial` says something had landed.
    if (f.kind === "busy") return landed ? { ...busyResult(f), partial: { snapshot } } : busyResult(f);
    if (landed) {
      return {
        status: "failed",
        write: "unknown",
        snapshot,
        reason: f.code ?? "UpdateFailed",
        message: f.message,
      };
    }
    if (f.kind === "notFound" || f.kind === "permanent") {
      return { status: "failed", write: "notApplied", reason: f.code ?? "UpdateRefused", message: f.message };
    }
    throw retriable(f);
  }
}

/** The registered activity; orchestrators yield `applyFrontDoorProfile(input)`. */
export const applyFrontDoorProfile: TypedActivity<ApplyFrontDoorProfileInput, ApplyFrontDoorProfileOutput> =
  df.app.activity("applyFrontDoorProfile", { handler: applyFrontDoorProfileHandler });
