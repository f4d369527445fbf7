/**
 * Orchestration `driftScan`: one scheduled sweep of every binding (also the inventory behind
 * `GET /api/certificates`, in report mode without jitter).
 *
 * 1. Wait the jitter the trigger drew, so many deployments do not hit ARM at once.
 * 2. Discover every binding of every certificate in the configured scopes.
 * 3. Per certificate, a `driftCertificate` sub-orchestration (bounded history however many
 *    bindings): observe each binding, read the vault's current version, judge, and start a repair
 *    rollout where the mode allows. One certificate failing never stops the others.
 */
import * as df from "durable-functions";
import type { OrchestrationContext } from "durable-functions";
import { discoverAllBindings } from "../activities/discoverAllBindings.js";
import { bindsCertificate, type Binding, type CertificateRef } from "../domain/bindings.js";
import { fitInstanceId, idSegment } from "../domain/instanceIds.js";
import { scanFailed } from "../domain/reasons.js";
import type { Reasoned } from "../domain/rollback.js";
import type { IgnoredBinding } from "../domain/writePolicy.js";
import {
  driftCertificate,
  type DriftCertificateInput,
  type DriftCertificateOutput,
} from "./driftCertificate.js";
import type { DriftScanInput } from "./policy.js";
import { call, sleep, type Flow } from "./tasks.js";

/** Output of `driftScan`. */
export interface DriftScanOutput {
  scheduledFor: string;
  mode: DriftScanInput["mode"];
  startedAt: string;
  finishedAt: string;
  certificates: DriftCertificateOutput[];
  warnings: Reasoned[];
  /** Bindings `WRITE_POLICY` leaves out. */
  ignored?: IgnoredBinding[];
}

/** The instance id of a scan's sub-orchestration for one certificate. */
export const driftCertificateInstanceId = (scanId: string, c: CertificateRef): string =>
  fitInstanceId(`${scanId}:${idSegment(c.vaultName)}:${idSegment(c.certificateName)}`);

function* driftScanOrchestrator(context: OrchestrationContext): Flow<DriftScanOutput> {
  const input = context.df.getInput<DriftScanInput>();
  // 1. Jitter.
  if (input.jitterSeconds > 0) yield* sleep(context, input.jitterSeconds);
  const startedAt = context.df.currentUtcDateTime.toISOString();

  // 2. Every binding, grouped by certificate.
  const discovered = yield* call(discoverAllBindings, {}, input.policy);
  const groups: { certificate: CertificateRef; bindings: Binding[] }[] = [];
  for (const b of discovered.bindings) {
    const group = groups.find((g) => bindsCertificate(b, g.certificate));
    if (group) group.bindings.push(b);
    else groups.push({ certificate: b.certificate, bindings: [b] });
  }
  context.df.setCustomStatus({ certificates: groups.length, bindings: discovered.bindings.length });

  // 3. One sub-orchestration per certificate.
  const tasks = groups.map((g) => {
    const sub: DriftCertificateInput = {
      scanId: context.df.instanceId,
      certificate: g.certificate,
      bindings: g.bindings,
      mode: input.mode,
      policy: input.policy,
    };
    return driftCertificate(sub, driftCertificateInstanceId(context.df.instanceId, g.certificate));
  });
  let certificates: DriftCertificateOutput[] = [];
  if (tasks.length) {
    try {
      certificates = (yield context.df.Task.all(tasks)) as DriftCertificateOutput[];
    } catch (error) {
      // driftCertificate catches its own failures; this is a crash of one of them.
      discovered.warnings.push(scanFailed(error, "The drift scan"));
    }
  }
  return {
    scheduledFor: input.scheduledFor,
    mode: input.mode,
    startedAt,
    finishedAt: context.df.currentUtcDateTime.toISOString(),
    certificates,
    warnings: discovered.warnings,
    ignored: discovered.ignored ?? [],
  };
}

/** The registered orchestration; `driftRepair` starts it with `driftScanInstanceId(…)`. */
export const driftScan = df.app.orchestration("driftScan", driftScanOrchestrator);
