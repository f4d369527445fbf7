/**
 * `npm run lab`: starts the local Azure + Kubernetes world with the seed topology, prints the
 * endpoints and writes them to `.lab/endpoints.json`.
 *
 *   npm run lab -- [--state-dir .lab] [--reset] [--ephemeral-ports] [--quiet]
 */
import { rmSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { startLab } from "./core/lab.js";
import { labServices } from "./services.js";

const { values } = parseArgs({
  options: {
    "state-dir": { type: "string", default: ".lab" },
    reset: { type: "boolean", default: false },
    "ephemeral-ports": { type: "boolean", default: false },
    quiet: { type: "boolean", default: false },
  },
});

const stateDir = resolve(values["state-dir"]);
if (values.reset) {
  rmSync(stateDir, { recursive: true, force: true });
  console.log(`Lab state at ${stateDir} removed.`);
}
const started = Date.now();
const lab = await startLab({
  stateDir,
  ports: values["ephemeral-ports"] ? "ephemeral" : undefined,
  services: labServices({ ephemeralPorts: values["ephemeral-ports"] }),
  log: values.quiet ? () => {} : (m) => console.log(`[lab] ${m}`),
});
console.log(JSON.stringify(lab.endpoints, null, 2));
console.log(
  `Lab ready in ${Date.now() - started} ms; endpoints written to ${lab.endpointsFile}. Ctrl+C stops it.`,
);

const stop = async () => {
  await lab.stop();
  process.exit(0);
};
process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());
