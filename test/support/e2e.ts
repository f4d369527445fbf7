/**
 * What the end-to-end tests (test/e2e) share on top of a {@link World}: thumbprints and report messages,
 * certificate versions, starting rollouts, lab faults held and lifted, recording the writes the lab
 * sees, and the Durable HTTP API (instances, suspend/resume, firing a timer).
 */
import assert from "node:assert/strict";
import { TableClient } from "@azure/data-tables";
import type { RolloutReport } from "../../src/domain/report.js";
import type { DriftScanOutput } from "../../src/orchestrations/driftScan.js";
import type { TestLab } from "./lab.js";
import type { World } from "./world.js";

/** A certificate version and the thumbprint of its leaf (uppercase hex, as {@link World.served} answers). */
export interface Version {
  version: string;
  thumbprint: string;
}

/** The uppercase hex thumbprint of Key Vault's `x509Thumbprint` bytes. */
export function thumb(bytes: Uint8Array | undefined): string {
  return Buffer.from(bytes ?? [])
    .toString("hex")
    .toUpperCase();
}

/**
 * A rollout report for an assertion message: its outcome (`Running` while it has none) and the first
 * `stagesChars` characters of its stages.
 */
export function explain(report: RolloutReport, stagesChars = 3000): string {
  const outcome = report.outcome
    ? `${report.outcome.state} ${report.outcome.reason}: ${report.outcome.message}`
    : "Running";
  return `${outcome}\n${JSON.stringify(report.stages, null, 1).slice(0, stagesChars)}`;
}

/** The vault's current version of a certificate. */
export async function currentVersion(world: World, name: string): Promise<Version> {
  const c = await world.certificates.getCertificate(name);
  return { version: c.properties.version as string, thumbprint: thumb(c.properties.x509Thumbprint) };
}

type CreateOptions = Parameters<World["certificates"]["beginCreateCertificate"]>[2];

/**
 * Creates a new version of a certificate with its current policy and waits until it is issued;
 * `options` go to `beginCreateCertificate` (e.g. `{ intervalInMs: 50 }` for a fast poll).
 */
export async function newVersion(world: World, name: string, options?: CreateOptions): Promise<Version> {
  const policy = await world.certificates.getCertificatePolicy(name);
  const done = await (await world.certificates.beginCreateCertificate(name, policy, options)).pollUntilDone();
  return { version: done.properties.version as string, thumbprint: thumb(done.properties.x509Thumbprint) };
}

/** Starts a rollout through `POST /api/rollouts` (the answer must be 202) and answers its instance id. */
export async function startRollout(world: World, body: Record<string, unknown>): Promise<string> {
  const answer = await world.api("POST", "/api/rollouts", body);
  assert.equal(answer.status, 202, answer.text);
  return (answer.body as { id: string }).id;
}

/**
 * Adds a lab fault rule (`POST /lab/faults`, which must succeed) and answers the function that lifts
 * it (`DELETE /lab/faults/{id}`). The fault is lifted once however often that is called, so a test
 * can lift it midway and again in `finally`.
 */
export async function holdFault(lab: TestLab, rule: Record<string, unknown>): Promise<() => Promise<void>> {
  const added = await lab.control("POST", "/lab/faults", rule);
  assert.ok(added.status < 300, JSON.stringify(added.body));
  const id = (added.body as { id: string }).id;
  let lifted = false;
  return async () => {
    if (lifted) return;
    lifted = true;
    await lab.control("DELETE", `/lab/faults/${id}`);
  };
}

/** POSTs settings to a lab control path (such as `/lab/arm/settings`), which must accept them. */
export async function configureLab(
  lab: TestLab,
  path: string,
  settings: Record<string, unknown>,
): Promise<void> {
  const answer = await lab.control("POST", path, settings);
  assert.ok(answer.status < 300, `${path}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
}

/** A write (any method but GET and HEAD) that reached the lab's ARM or Kubernetes server. */
export interface LabWrite {
  server: "arm" | "kubernetes";
  method: string;
  path: string;
}

/** Records every write the lab's ARM and Kubernetes servers receive from now on, in order. */
export function recordLabWrites(lab: TestLab): LabWrite[] {
  const writes: LabWrite[] = [];
  for (const server of ["arm", "kubernetes"] as const) {
    lab.ctx.servers[server].router.use(async (req, next) => {
      const out = await next();
      if (req.method !== "GET" && req.method !== "HEAD")
        writes.push({ server, method: req.method, path: req.path });
      return out;
    });
  }
  return writes;
}

/** The ids of the outcome events the lab's outcome topic holds, in order, with their run and instance. */
export async function outcomeEvents(
  lab: TestLab,
): Promise<{ id: string; data: { runId: string; instanceId: string } }[]> {
  const events = await lab.control("GET", "/lab/eventgrid/topics/rotation-outcomes/events");
  return (
    events.body as { value: { event: { id: string; data: { runId: string; instanceId: string } } }[] }
  ).value.map((e) => e.event);
}

/** The stages of a rotation's plan, from its custom status (none before it has planned). */
export async function plannedStages(
  world: World,
  rotationId: string,
): Promise<{ index: number; stage: string }[] | undefined> {
  const s = await world.status(rotationId);
  return (s?.customStatus as { stages?: { index: number; stage: string }[] } | undefined)?.stages;
}

/** Polls until a stage instance runs with a target applied (it has written and now probes). */
export function waitForStageProbing(
  world: World,
  what: string,
  stageId: string,
  timeoutMs?: number,
): Promise<true> {
  return world.waitFor(
    what,
    async () => {
      const s = await world.status(stageId);
      const live = s?.customStatus as { targets?: { status: string }[] } | undefined;
      return s?.runtimeStatus === "Running" && live?.targets?.some((t) => t.status === "applied")
        ? true
        : undefined;
    },
    timeoutMs,
  );
}

/**
 * Polls until every address of every host presents `thumbprint` in a real handshake; on timeout the
 * error says what each host served last.
 */
export async function waitUntilServed(
  world: World,
  hosts: readonly string[],
  thumbprint: string,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  let seen = "";
  await world
    .waitFor(
      what,
      async () => {
        const now = await Promise.all(
          hosts.map(async (h) => [h, await world.served(h).catch((e: Error) => e.message)] as const),
        );
        seen = JSON.stringify(now);
        return now.every(([, t]) => Array.isArray(t) && t.length > 0 && t.every((x) => x === thumbprint))
          ? true
          : undefined;
      },
      timeoutMs,
    )
    .catch((e: Error) => {
      throw new Error(`${e.message}; served ${seen} (expected ${thumbprint})`);
    });
}

/** Every Durable instance the host knows, through the Durable HTTP API (system key). */
export async function listInstances(
  world: World,
): Promise<{ instanceId: string; runtimeStatus: string; customStatus: unknown; output: unknown }[]> {
  const res = await fetch(
    `${world.baseUrl}/runtime/webhooks/durabletask/instances?code=${world.keys.durable}`,
  );
  return (await res.json()) as {
    instanceId: string;
    runtimeStatus: string;
    customStatus: unknown;
    output: unknown;
  }[];
}

/** Suspends or resumes an instance through the Durable HTTP API (system key); the host must answer 202. */
export async function durableOperation(
  world: World,
  instanceId: string,
  operation: "suspend" | "resume",
): Promise<void> {
  const res = await fetch(
    `${world.baseUrl}/runtime/webhooks/durabletask/instances/${encodeURIComponent(instanceId)}/${operation}?reason=test&code=${world.keys.durable}`,
    { method: "POST" },
  );
  assert.equal(res.status, 202, `${operation}: ${res.status} ${await res.text()}`);
}

/** Fires the drift timer now through the host's admin API (master key); the host must answer 202. */
export async function fireDriftTimer(world: World): Promise<void> {
  const fired = await fetch(`${world.baseUrl}/admin/functions/driftRepair`, {
    method: "POST",
    headers: { "x-functions-key": world.keys.master, "content-type": "application/json" },
    body: JSON.stringify({ input: "" }),
  });
  assert.equal(fired.status, 202);
}

/** The app's lock table (leases, APIM queue entries, write snapshots) in the world's Azurite. */
export function locksTable(world: World): TableClient {
  return TableClient.fromConnectionString(
    world.azurite.connectionString,
    `${world.settings.AUDIT_TABLE_NAME ?? "RotationAudit"}Locks`,
    { allowInsecureConnection: true },
  );
}

/**
 * Fires the drift timer and waits until the scan it started has completed; answers the scan's
 * output. One scan per minute of the clock (its instance id is the occurrence's minute).
 */
export async function runDriftScan(world: World, timeoutMs = 120_000): Promise<DriftScanOutput> {
  const scans = async () => (await listInstances(world)).filter((i) => i.instanceId.startsWith("drift:"));
  const before = new Set((await scans()).map((i) => i.instanceId));
  await fireDriftTimer(world);
  return world.waitFor(
    "the drift scan to complete",
    async () => {
      const scan = (await scans()).find((i) => !before.has(i.instanceId));
      return scan?.runtimeStatus === "Completed" ? (scan.output as DriftScanOutput) : undefined;
    },
    timeoutMs,
  );
}
