/**
 * `npm start`: the whole product on this machine, offline.
 *
 * Starts the lab (Key Vault, Event Grid, ARM Front Door/APIM, Kubernetes, the TLS hops), a private
 * Azurite and the local Functions host with the app, subscribes the host to the lab vault's events,
 * then shows three rollouts:
 *
 * 1. CertificateNearExpiry for the certificates of each hop, through the lab's Event Grid → renewed
 *    and rolled out, progress per target live, then each hop's thumbprint in real handshakes before
 *    and after;
 * 2. a new version whose SAN misses the bound host → Rejected, nothing touched;
 * 3. a hop that never serves the new certificate (a lab fault) → RolledBack, the old one served.
 *
 * Exits 0 only when each outcome is what it should be.
 *
 *   npm start              the demonstration above
 *   npm start -- --serve   keep everything running; print the URLs, keys and environment to use.
 *                          Renewing a certificate with the Key Vault SDK then starts a rollout by
 *                          itself (the vault's NewVersionCreated reaches the app through Event Grid).
 */
import { parseArgs } from "node:util";
import { rotationInstanceId } from "../src/domain/instanceIds.js";
import { renderReport, type RolloutReport } from "../src/domain/report.js";
import { startWorld, type World } from "./world.js";

const VAULT = "kv-contoso";
/** Certificate → the host name its hop serves. */
const HOPS: Record<string, string> = {
  "ingress-tls": "backend.contoso.test",
  "apim-gateway": "apim.contoso.test",
  "edge-contoso": "api.contoso.test",
};

const MARK: Record<string, string> = {
  pending: "..",
  applied: "->",
  verified: "ok",
  failed: "XX",
  notApplied: "--",
  rolledBack: "<-",
  rollbackFailed: "!!",
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { serve: { type: "boolean" }, "time-scale": { type: "string" } },
    strict: true,
  });
  const timeScale = Number(values["time-scale"] ?? 20);
  say("Starting the lab, Azurite and the local Functions host with the app…");
  const world = await startWorld({ timeScale, frontDoorDelayMs: 1500 });
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await world.stop().catch(() => undefined);
    process.exit(code);
  };
  process.on("SIGINT", () => void stop(130));
  process.on("SIGTERM", () => void stop(143));
  say(`Host ${world.baseUrl} (time scale ${timeScale}); lab control ${world.lab.ctx.servers.control.url}.`);

  if (values.serve) {
    serve(world);
    return;
  }
  const checks: { what: string; ok: boolean }[] = [];
  try {
    checks.push(...(await nearExpiryDemo(world)));
    checks.push(await rejectedDemo(world));
    checks.push(await rolledBackDemo(world));
  } catch (error) {
    checks.push({ what: `the demonstration ran (${(error as Error).message})`, ok: false });
  }
  say("\nOutcome checks:");
  for (const c of checks) console.log(`  ${c.ok ? "PASS" : "FAIL"}  ${c.what}`);
  const ok = checks.length > 0 && checks.every((c) => c.ok);
  say(ok ? "Every outcome is what it should be." : "Some outcome is not what it should be.");
  await stop(ok ? 0 : 1);
}

/** 1. Near expiry, through Event Grid, for each hop's certificate at once. */
async function nearExpiryDemo(world: World): Promise<{ what: string; ok: boolean }[]> {
  say("\n== 1. CertificateNearExpiry for each hop's certificate, through the lab's Event Grid ==");
  const before = await servedEverywhere(world);
  const ids: Record<string, string> = {};
  for (const name of Object.keys(HOPS)) {
    const current = await world.certificates.getCertificate(name);
    await world.emitKeyVaultEvent("CertificateNearExpiry", name, current.properties.version as string);
    ids[name] = rotationInstanceId({ vaultName: VAULT, certificateName: name });
  }
  const reports = await followProgress(world, Object.values(ids));
  const after = await servedEverywhere(world);
  for (const report of Object.values(reports)) console.log(`\n${renderReport(report)}`);
  say("\nThumbprints served in real TLS handshakes, before → after:");
  for (const [host, was] of Object.entries(before))
    console.log(`  ${host.padEnd(24)} ${was.join(",")} → ${(after[host] ?? []).join(",")}`);
  return Object.entries(ids).map(([name, id]) => {
    const r = reports[id];
    const host = HOPS[name] as string;
    const served = after[host] ?? [];
    const ok =
      r?.outcome?.state === "Succeeded" &&
      served.length > 0 &&
      served.every((t) => t === r.versions.next?.thumbprint) &&
      !served.some((t) => (before[host] ?? []).includes(t));
    return { what: `${name}: near expiry → Succeeded, ${host} serves the renewed version`, ok };
  });
}

/** 2. A version whose SAN misses the bound host → Rejected, nothing touched. */
async function rejectedDemo(world: World): Promise<{ what: string; ok: boolean }> {
  say("\n== 2. A new version whose SAN misses the bound host (NewVersionCreated) ==");
  const name = "apim-gateway";
  const host = HOPS[name] as string;
  const before = await world.served(host);
  const policy = await world.certificates.getCertificatePolicy(name);
  policy.subject = "CN=wrong.contoso.test";
  policy.subjectAlternativeNames = { dnsNames: ["wrong.contoso.test"] };
  const created = await (await world.certificates.beginCreateCertificate(name, policy)).pollUntilDone();
  const id = rotationInstanceId({ vaultName: VAULT, certificateName: name });
  const report = await waitForReportOf(world, id, created.properties.version as string);
  console.log(`\n${renderReport(report)}`);
  const after = await world.served(host);
  console.log(`  ${host} served ${before.join(",")} before and ${after.join(",")} after.`);
  return {
    what: `${name}: SAN misses ${host} → Rejected, still served unchanged`,
    ok: report.outcome?.state === "Rejected" && after.join() === before.join(),
  };
}

/** 3. A hop that never serves the new certificate → RolledBack. */
async function rolledBackDemo(world: World): Promise<{ what: string; ok: boolean }> {
  say("\n== 3. The ingress never serves the new certificate (lab fault) → rollback ==");
  const name = "ingress-tls";
  const host = HOPS[name] as string;
  const before = await world.served(host);
  await world.lab.control("POST", "/lab/faults", {
    service: "edge",
    kind: "neverPropagate",
    match: `ingress ${host.replace(/\./g, "\\.")}`,
  });
  const answer = await world.api("POST", "/api/rollouts", { vault: VAULT, certificate: name, renew: true });
  if (answer.status !== 202) throw new Error(`POST /api/rollouts answered ${answer.status}: ${answer.text}`);
  const id = rotationInstanceId({ vaultName: VAULT, certificateName: name });
  const reports = await followProgress(world, [id]);
  const report = reports[id] as RolloutReport;
  console.log(`\n${renderReport(report)}`);
  await world.lab.control("DELETE", "/lab/faults?service=edge");
  const after = await world.served(host);
  console.log(`  ${host} served ${before.join(",")} before and ${after.join(",")} after.`);
  return {
    what: `${name}: new certificate never served → RolledBack, ${host} serves the previous one`,
    ok: report.outcome?.state === "RolledBack" && after.join() === before.join(),
  };
}

/** Polls each rollout's report until all ended, printing a compact line per rollout whenever it changes. */
async function followProgress(world: World, ids: string[]): Promise<Record<string, RolloutReport>> {
  const last = new Map<string, string>();
  const done: Record<string, RolloutReport> = {};
  const deadline = Date.now() + 10 * 60_000;
  while (Object.keys(done).length < ids.length) {
    if (Date.now() > deadline)
      throw new Error(`rollouts ${ids.filter((i) => !done[i]).join(", ")} did not end`);
    for (const id of ids) {
      if (done[id]) continue;
      const answer = await world.api("GET", `/api/rollouts/${encodeURIComponent(id)}`);
      if (answer.status !== 200) continue;
      const report = answer.body as RolloutReport;
      const line = compact(report);
      if (last.get(id) !== line) {
        last.set(id, line);
        console.log(`  ${new Date().toISOString().slice(11, 19)} ${line}`);
      }
      if (report.outcome) {
        const status = await world.status(id);
        if (status && status.runtimeStatus !== "Running" && status.runtimeStatus !== "Pending")
          done[id] = report;
      }
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return done;
}

/** One line: certificate, version, each stage's targets as marks, the outcome. */
function compact(r: RolloutReport): string {
  const stages = r.stages
    .map((s) => `${s.index}.${s.stage}[${s.targets.map((t) => MARK[t.status] ?? t.status).join(" ")}]`)
    .join(" ");
  const version = r.versions.next?.version ? ` v${r.versions.next.version.slice(0, 8)}` : "";
  return `${r.certificate.certificateName.padEnd(13)}${version} ${stages || (r.preflight ? `preflight ${r.preflight.verdict}` : "resolving")}${r.outcome ? ` => ${r.outcome.state} (${r.outcome.reason})` : ""}`;
}

/** Waits for the rollout of `id` whose trigger names `version`, and returns its final report. */
async function waitForReportOf(world: World, id: string, version: string): Promise<RolloutReport> {
  await world.waitFor(`the rollout of version ${version}`, async () => {
    const answer = await world.api("GET", `/api/rollouts/${encodeURIComponent(id)}`);
    const r = answer.body as RolloutReport | undefined;
    return answer.status === 200 && r?.trigger.detail.includes(version) ? true : undefined;
  });
  const reports = await followProgress(world, [id]);
  return reports[id] as RolloutReport;
}

async function servedEverywhere(world: World): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const host of Object.values(HOPS)) out[host] = await world.served(host);
  return out;
}

function serve(world: World): void {
  const env = world.lab.endpoints.env;
  say(`
The control plane is running. Everything below stays up until Ctrl-C.

  App                 ${world.baseUrl}
  Host key            ${world.keys.host}   (x-functions-key header or ?code=)
  Master key          ${world.keys.master}  (POST ${world.baseUrl}/admin/functions/driftRepair fires a drift scan)
  Rollouts            POST/GET ${world.baseUrl}/api/rollouts, GET ${world.baseUrl}/api/certificates
  Durable API         ${world.baseUrl}/runtime/webhooks/durabletask/instances?code=${world.keys.durable}
  Key Vault           ${world.vaultUrl}
  Lab control         ${world.lab.ctx.servers.control.url}   (GET /lab/edge: what every hop serves)

To use the Key Vault SDK (or az-style scripts) against the lab, export:
${Object.entries(env)
  .map(([k, v]) => `  export ${k}='${v}'`)
  .join("\n")}

Then renewing a certificate, e.g. with @azure/keyvault-certificates
  client.beginCreateCertificate("edge-contoso", await client.getCertificatePolicy("edge-contoso"))
makes the vault send CertificateNewVersionCreated through the lab Event Grid, which starts a rollout.`);
}

function say(text: string): void {
  console.log(text);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
