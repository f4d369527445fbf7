/**
 * How the lab itself scales with the benchmark topology (printed figures, not a timed test): starts
 * the lab in this process, grows the bench/rollout topology to each N (certificates, each with a
 * Kubernetes TLS Secret + Ingress, an APIM Proxy hostname and a Front Door custom domain), and prints
 * the time to build it, the time of one data-plane refresh (the edge re-reading every hop's view),
 * and the lab's CPU use while nothing calls it (its periodic refresh).
 *
 *   node dist/bench/rollout/labScale.js [--counts 10,100]
 */
import { parseArgs } from "node:util";
import { EDGE_REGISTRY } from "../../emulator/lab/edge/service.js";
import type { Edge } from "../../emulator/lab/edge/edge.js";
import { startTestLab } from "../../emulator/lab/inProcess.js";
import { BenchTopology } from "./topology.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { counts: { type: "string", default: "10,100" } } });
  const counts = (values.counts ?? "")
    .split(",")
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
  const lab = await startTestLab();
  try {
    const kv = await lab.control("POST", "/lab/keyvault/settings", { createDelayMs: 0 });
    if (kv.status >= 300) throw new Error(`Key Vault settings: ${JSON.stringify(kv.body)}`);
    const arm = await lab.control("POST", "/lab/arm/settings", {
      frontDoorOperationMs: 0,
      frontDoorDeploymentMs: 0,
      apimUpdateMs: 0,
      lroRetryAfterSeconds: 0,
    });
    if (arm.status >= 300) throw new Error(`ARM settings: ${JSON.stringify(arm.body)}`);
    const edge = lab.ctx.registry.get(EDGE_REGISTRY) as Edge;
    const topology = new BenchTopology(lab);
    console.log(
      `${"N".padStart(5)}${"setup".padStart(10)}${"refresh".padStart(10)}${"idle CPU".padStart(10)}`,
    );
    for (const n of counts) {
      let t = performance.now();
      await topology.growTo(n);
      const setup = (performance.now() - t) / 1000;
      await edge.refresh();
      t = performance.now();
      const rounds = 5;
      for (let i = 0; i < rounds; i++) await edge.refresh();
      const refreshMs = (performance.now() - t) / rounds;
      const cpu = process.cpuUsage();
      t = performance.now();
      await sleep(5000);
      const used = process.cpuUsage(cpu);
      const idle = (used.user + used.system) / 1000 / (performance.now() - t);
      console.log(
        `${String(n).padStart(5)}${`${setup.toFixed(1)} s`.padStart(10)}${`${refreshMs.toFixed(0)} ms`.padStart(10)}${`${(idle * 100).toFixed(0)} %`.padStart(10)}`,
      );
    }
  } finally {
    await lab.dispose();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
