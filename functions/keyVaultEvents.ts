/**
 * Trigger `keyVaultEvents` (Event Grid): Key Vault certificate events → `rotateCertificate`.
 *
 * Parses the event (Event Grid or CloudEvents schema), rejects vaults outside the allow-list,
 * unknown types and malformed payloads with a log line that says why, and starts the rotation under
 * the certificate's deterministic instance id — unless the delivery is a duplicate, out of order, or
 * the NewVersionCreated of our own renewal (see `decideEvent`), or a NewVersionCreated of a held
 * version (its last rollout failed). A NearExpiry/Expired arriving while
 * a rollout that does not replace that version runs fails the delivery (an error), so Event Grid
 * delivers it again on its retry schedule instead of the expiry being dropped.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { DurableClient } from "durable-functions";
import { appConfig } from "../src/config.js";
import { readHold } from "../src/azure/heldVersions.js";
import { describeSdkError } from "../src/azure/sdkErrors.js";
import { composition } from "../src/composition.js";
import { allowedVault, allowedVaultNames } from "../src/domain/allowedVaults.js";
import {
  decideEvent,
  eventTriggerDetail,
  heldEventVersion,
  olderThanCurrent,
  type EventDecision,
  type VersionCreated,
} from "../src/domain/eventDecision.js";
import { rotationInstanceId } from "../src/domain/instanceIds.js";
import { parseKeyVaultEvent, toEventRecord, type CertificateEvent } from "../src/domain/keyVaultEvent.js";
import { rolloutPolicyFrom, type RotationInput } from "../src/orchestrations/policy.js";
import { findStatus } from "../src/triggers/instanceStatus.js";
import { startRotationOnce } from "../src/triggers/startRotationOnce.js";

/** Handles one delivered event. */
export async function keyVaultEventsHandler(
  event: unknown,
  client: DurableClient,
  context: InvocationContext,
): Promise<void> {
  // 1. Parse and filter.
  const e = acceptedEvent(event, context);
  if (!e) return;
  const certificate = { vaultName: e.vaultName, certificateName: e.certificateName };
  const instanceId = rotationInstanceId(certificate);

  // 2. One rollout per certificate: duplicates, stale events and our own renewals start nothing;
  // an expiry while another rollout runs is delivered again later.
  const what = `Event ${e.eventId} (${e.kind} ${e.vaultName}/${e.certificateName})`;
  const act = (decision: EventDecision): void => {
    if (decision.action === "redeliver") throw new Error(`${what}: ${decision.reason}`);
    if (decision.action === "skip") context.log(`${what}: skipped: ${decision.reason}`);
  };
  const decision = decideEvent(e, await findStatus(client, instanceId, { showInput: true }));
  if (decision.action !== "start") return act(decision);
  if (e.kind === "CertificateNewVersionCreated") {
    const older = await olderThanVaultCurrent(e);
    if (older) return act({ action: "skip", reason: older });
    // A version whose last rollout failed is held: only an operator's retry rolls it out again.
    const held = heldEventVersion(e, (await readHold(await composition().heldTable(), certificate))?.held);
    if (held) return act({ action: "skip", reason: held });
  }

  // 3. Start the rotation, and confirm the instance runs this event.
  const input: RotationInput = {
    certificate,
    request: { kind: "event", event: toEventRecord(e) },
    trigger: { kind: "event", detail: eventTriggerDetail(e), requestId: e.eventId },
    policy: rolloutPolicyFrom(appConfig()),
  };
  const start = await startRotationOnce(client, instanceId, input, { requestId: e.eventId });
  if (start.kind === "started") return context.log(`${what}: started ${instanceId}.`);
  if (start.kind === "raced") {
    // Two deliveries raced: the other one started it.
    const now = decideEvent(e, start.seen?.status);
    if (now.action === "start") throw start.error;
    return act(now);
  }
  // 4. Superseded by another start at the same moment (two starts can both return on Azure Storage).
  const superseded = `superseded by ${start.by}`;
  const after = decideEvent(e, start.status);
  if (after.action === "skip") return context.log(`${what}: ${superseded}; skipped: ${after.reason}`);
  if (e.kind !== "CertificateNewVersionCreated")
    throw new Error(`${what}: ${superseded}; failing the delivery so Event Grid delivers it again.`);
  context.log(`${what}: ${superseded}; nothing new starts (the drift scan catches anything it misses).`);
}

/** The event, parsed and from an allowed vault; otherwise undefined, with a log line that says why. */
function acceptedEvent(event: unknown, context: InvocationContext): CertificateEvent | undefined {
  const config = appConfig();
  const parsed = parseKeyVaultEvent(event, { allowedVaults: allowedVaultNames(config) });
  if (!parsed.ok) {
    const r = parsed.rejection;
    context.warn(
      `Rejected event ${r.eventId ?? "(no id)"}${r.eventType ? ` of type ${r.eventType}` : ""}: ${r.reason}: ${r.message}`,
    );
    return undefined;
  }
  const e = parsed.event;
  if (!allowedVault(config, e.vaultUrl)) {
    context.warn(
      `Rejected event ${e.eventId}: VaultNotAllowed: the vault URL ${e.vaultUrl} is not in ALLOWED_VAULT_URLS.`,
    );
    return undefined;
  }
  return e;
}

/**
 * For a NewVersionCreated: why its version is older than the vault's current one (by Key Vault's
 * creation times), or undefined. A late event for an older version must not roll it out — least of
 * all after the newer version's rollout was rolled back. Read errors are thrown (redelivery).
 */
async function olderThanVaultCurrent(e: CertificateEvent): Promise<string | undefined> {
  const c = composition();
  const certificates = c.certificateClient(c.vaultUrl(e.vaultName) ?? e.vaultUrl);
  let event, current;
  try {
    [event, current] = await Promise.all([
      certificates.getCertificateVersion(e.certificateName, e.version),
      certificates.getCertificate(e.certificateName),
    ]);
  } catch (error) {
    const f = describeSdkError(error, `Reading ${e.vaultName}/${e.certificateName}`);
    if (f.kind === "notFound") return `${f.message} Nothing is rolled out.`;
    throw error;
  }
  const created = (c: typeof current): VersionCreated => ({
    version: c.properties.version ?? "",
    ...(c.properties.createdOn ? { createdOn: c.properties.createdOn } : {}),
  });
  return olderThanCurrent(created(event), created(current));
}

df.app.client.eventGrid("keyVaultEvents", { handler: keyVaultEventsHandler });
