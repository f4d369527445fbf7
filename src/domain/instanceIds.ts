/**
 * Deterministic ids for orchestration instances and resource locks. The same certificate always
 * maps to the same rotation id, which is how "one rotation per certificate at a time" is enforced.
 *
 * Durable instance ids (and Azure Storage row keys, where history lives) must be 1-100 characters,
 * must not start with `@`, and must not contain `/`, `\`, `#`, `?` or control characters. Every id
 * made here obeys that; an id that would be longer is cut and suffixed with a hash of the whole, so
 * it stays unique.
 */
import { createHash } from "node:crypto";
import type { CertificateRef, Stage } from "./bindings.js";

/** Longest instance id Durable Functions accepts. */
export const MAX_INSTANCE_ID_LENGTH = 100;

const isControl = (c: number) => c <= 0x1f || (c >= 0x7f && c <= 0x9f);

/** Whether a string is a valid Durable instance id (and Azure Storage row key). */
export function isValidInstanceId(id: string): boolean {
  return (
    id.length >= 1 &&
    id.length <= MAX_INSTANCE_ID_LENGTH &&
    !id.startsWith("@") &&
    !/[/\\#?]/.test(id) &&
    ![...id].some((ch) => isControl(ch.codePointAt(0) ?? 0))
  );
}

const hash = (s: string) => createHash("sha256").update(s).digest("hex");

/**
 * One id segment: trimmed, lower case, any character other than `a-z 0-9 . _ -` written as `~` and
 * its code point in hex followed by `~`, so distinct inputs stay distinct.
 */
export function idSegment(text: string): string {
  return text
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9._-]/gu, (c) => `~${(c.codePointAt(0) ?? 0).toString(16)}~`);
}

/** Cuts an id to the maximum length, replacing the tail with a hash of the whole id. */
export function fitInstanceId(id: string): string {
  if (id.length <= MAX_INSTANCE_ID_LENGTH) return id;
  const tail = `~${hash(id).slice(0, 16)}`;
  return id.slice(0, MAX_INSTANCE_ID_LENGTH - tail.length) + tail;
}

const ROTATION_PREFIX = "rotate:";

/** The rotation orchestration id of a certificate: `rotate:<vault>:<certificate>`, lower case. */
export function rotationInstanceId(ref: CertificateRef): string {
  return fitInstanceId(`${ROTATION_PREFIX}${idSegment(ref.vaultName)}:${idSegment(ref.certificateName)}`);
}

/**
 * The certificate a rotation id names, or `undefined` when the id is not a rotation id or was
 * shortened (certificate names near the 127-character limit).
 */
export function parseRotationInstanceId(id: string): CertificateRef | undefined {
  const m = /^rotate:([a-z0-9-]+):([a-z0-9-]+)$/.exec(id);
  return m ? { vaultName: m[1]!, certificateName: m[2]! } : undefined;
}

const shortVersion = (version: string) => idSegment(version).slice(0, 12);

/** The sub-orchestration id of one stage of a rotation to a given version. */
export function stageInstanceId(rotationId: string, version: string, index: number, stage: Stage): string {
  return fitInstanceId(`${rotationId}:${shortVersion(version)}:stage-${index}-${idSegment(stage)}`);
}

/** The sub-orchestration id of a target's APIM change (its wait in the service's update queue). */
export const apimChangeInstanceId = (targetInstanceId: string): string =>
  fitInstanceId(`${targetInstanceId}:q`);

/** The sub-orchestration id of the rollback of a rotation to a given version. */
export function rollbackInstanceId(rotationId: string, version: string): string {
  return fitInstanceId(`${rotationId}:${shortVersion(version)}:rollback`);
}

/**
 * The drift scan id for a scheduled run, to the minute (`drift:2026-06-01t12-00`), so a timer that
 * fires twice for one schedule starts one scan.
 */
export function driftScanInstanceId(scheduledFor: Date): string {
  return `drift:${scheduledFor.toISOString().slice(0, 16).replace(/:/g, "-").toLowerCase()}`;
}

/**
 * A lock id (for a Durable entity key or a lease) for one resource, such as an APIM service ARM
 * id: a hash of the normalised resource key plus a readable tail. Two spellings of one ARM id get
 * the same lock.
 */
export function resourceLockId(resourceKey: string): string {
  const normalised = resourceKey.trim().replace(/\/+$/, "").toLowerCase();
  const name = idSegment(normalised.split("/").pop() ?? "").slice(0, 40);
  return `lock-${hash(normalised).slice(0, 24)}-${name}`;
}
