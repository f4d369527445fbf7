/**
 * Shared set-up of the activity tests: a lab (and, when asked, an Azurite), the composition pointed
 * at it, and real InvocationContexts whose log lines are kept for inspection.
 */
import functions from "@azure/functions";
import type { AzuriteHandle } from "../../../emulator/host/azurite.js";
import { useComposition, type Composition } from "../../../src/composition.js";
import { resetDiscoveryCache } from "../../../src/discovery.js";
import { labComposition, startTestAzurite, type LabSettingsOptions } from "../../support/labConfig.js";
import { startTestLab, type TestLab } from "../../support/lab.js";

const { InvocationContext } = functions;
type InvocationContext = InstanceType<typeof InvocationContext>;

/** A running lab with the composition installed. */
export interface ActivityWorld {
  lab: TestLab;
  azurite?: AzuriteHandle;
  composition: Composition;
  /** Every log line written through contexts from {@link ActivityWorld.context}. */
  logs: string[];
  /** A real InvocationContext for `functionName`. */
  context(functionName?: string): InvocationContext;
  /** Rebuilds the composition with extra settings. */
  reconfigure(options: LabSettingsOptions): void;
  dispose(): Promise<void>;
}

/**
 * The lab's service times for the activity tests, shorter than `npm run lab`'s (Key Vault issuance
 * 1.5 s, APIM update 1.5 s, Front Door 300 + 700 ms, edge propagation 2 s and 6 s): these tests wait
 * for each to finish, never inside one, and the lab tests cover the in-between states themselves.
 * The two edge locations still differ, so a probe that asks only one would still be caught.
 */
const ACTIVITY_LAB_TIMES: Array<[method: string, path: string, body: Record<string, unknown>]> = [
  ["POST", "/lab/keyvault/settings", { createDelayMs: 100 }],
  ["POST", "/lab/arm/settings", { frontDoorOperationMs: 50, frontDoorDeploymentMs: 200, apimUpdateMs: 300 }],
  ["PUT", "/lab/edge/frontDoor/locations/westeurope", { propagationDelayMs: 100 }],
  ["PUT", "/lab/edge/frontDoor/locations/eastus", { propagationDelayMs: 300 }],
];

/** Starts the lab (and Azurite when `storage`), installs a composition pointed at them. */
export async function startActivityWorld(options: { storage?: boolean } = {}): Promise<ActivityWorld> {
  const lab = await startTestLab();
  let azurite: AzuriteHandle | undefined;
  try {
    for (const [method, path, body] of ACTIVITY_LAB_TIMES) {
      const answer = await lab.control(method, path, body);
      if (answer.status >= 300)
        throw new Error(`${method} ${path} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    }
    azurite = options.storage ? await startTestAzurite() : undefined;
  } catch (error) {
    await lab.dispose();
    throw error;
  }
  const base: LabSettingsOptions = azurite ? { storageConnectionString: azurite.connectionString } : {};
  const logs: string[] = [];
  let n = 0;
  const world: ActivityWorld = {
    lab,
    ...(azurite ? { azurite } : {}),
    composition: labComposition(lab, {
      ...base,
      retryOptions: { retryDelayInMs: 20, maxRetryDelayInMs: 500 },
    }),
    logs,
    context(functionName = "activity") {
      return new InvocationContext({
        invocationId: `test-${++n}`,
        functionName,
        logHandler: (level, ...args) => logs.push(`${level}: ${args.map(String).join(" ")}`),
      });
    },
    reconfigure(more) {
      world.composition = labComposition(lab, {
        ...base,
        ...more,
        overrides: { ...more.overrides },
        retryOptions: { retryDelayInMs: 20, maxRetryDelayInMs: 500 },
      });
      useComposition(world.composition);
      resetDiscoveryCache();
    },
    async dispose() {
      useComposition(undefined);
      resetDiscoveryCache();
      await azurite?.stop();
      await lab.dispose();
    },
  };
  useComposition(world.composition);
  resetDiscoveryCache();
  return world;
}

/** Polls `check` until it returns a value (not undefined/false) or the deadline passes. */
export async function eventually<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 15_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`Condition not met within ${timeoutMs} ms.`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
