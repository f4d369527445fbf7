/**
 * App settings that point the control plane at a running test lab (and an Azurite for the audit
 * and lock tables): every endpoint the lab publishes, the lab kubeconfig, probe host overrides for
 * every edge address, and the lab CA as the trusted bundle. Reused by activity, orchestration and
 * end-to-end tests.
 */
import { SEED } from "./seed.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureAzurite, type AzuriteHandle } from "../host/azurite.js";
import { createComposition, type Composition, type CompositionOptions } from "../../src/composition.js";
import { loadConfig, type Config } from "../../src/config.js";
import type { TestLab } from "./inProcess.js";

/** What the lab publishes in `endpoints.json`, as far as the control plane needs it. */
interface LabEndpoints {
  subscriptionId: string;
  resourceGroup: string;
  caCert: string;
  keyVault?: { vaults?: Record<string, { url: string; resourceId: string }> };
  kubeconfig?: string;
  kubernetes?: { clusterId: string; namespaces: string[] };
  arm?: {
    endpoint: string;
    audience: string;
    resources?: { frontDoorProfile?: string; apimService?: string };
  };
  eventGrid?: { topicEndpoint?: string; topicKey?: string };
  edge?: { hosts?: Record<string, Record<string, string>> };
}

/** Options of {@link labSettings}. */
export interface LabSettingsOptions {
  /** Connection string of the storage holding the audit and lock tables (an Azurite). */
  storageConnectionString?: string;
  /** Settings to add or replace (e.g. `BINDINGS_FILE`). */
  overrides?: Record<string, string>;
}

/** `PROBE_HOST_OVERRIDES` for every host the lab edge serves (every address of a multi-location host). */
export function labProbeHostOverrides(lab: TestLab): string {
  const hosts = (lab.endpoints as unknown as LabEndpoints).edge?.hosts ?? {};
  return Object.entries(hosts)
    .map(([host, byHop]) => `${host}=${[...new Set(Object.values(byHop))].join("|")}`)
    .join(",");
}

/** The app settings of the control plane pointed at `lab`. */
export function labSettings(lab: TestLab, options: LabSettingsOptions = {}): Record<string, string> {
  const e = lab.endpoints as unknown as LabEndpoints;
  const rg = `/subscriptions/${e.subscriptionId}/resourceGroups/${e.resourceGroup}`;
  const vaultUrls = Object.values(e.keyVault?.vaults ?? {}).map((v) => v.url.replace(/\/+$/, ""));
  const settings: Record<string, string> = {
    AzureWebJobsStorage: options.storageConnectionString ?? "UseDevelopmentStorage=true",
    ALLOWED_VAULT_URLS: vaultUrls.join(","),
    // The control plane's roles are scoped to each resource (as in Azure), so scopes name resources.
    FRONT_DOOR_SCOPES: e.arm?.resources?.frontDoorProfile ?? rg,
    APIM_SCOPES: e.arm?.resources?.apimService ?? rg,
    AKS_CLUSTER_IDS: e.kubernetes?.clusterId ?? "",
    KUBERNETES_NAMESPACES: (e.kubernetes?.namespaces ?? []).join(","),
    KUBERNETES_KUBECONFIG: e.kubeconfig ?? "",
    // Private keys of the lab's vaults go only to the ingress namespace (not to `ops`).
    WRITE_POLICY: Object.keys(e.keyVault?.vaults ?? {})
      .map((v) => `${v}=${SEED.cluster.name}/${SEED.cluster.ingress.namespace}`)
      .join(","),
    ARM_ENDPOINT: e.arm?.endpoint ?? "",
    ARM_AUDIENCE: e.arm?.audience ?? "",
    OUTCOME_TOPIC_ENDPOINT:
      e.eventGrid?.topicEndpoint ?? "https://rotation-outcomes.eventgrid.localhost/api/events",
    OUTCOME_TOPIC_KEY: e.eventGrid?.topicKey ?? "",
    AUDIT_TABLE_NAME: "RolloutAudit",
    PROBE_HOST_OVERRIDES: labProbeHostOverrides(lab),
    // The API's public entry: end-to-end requests go through Front Door, APIM and the ingress.
    PROBE_END_TO_END_HOSTS: Object.values(SEED.frontDoor.customDomains).join(","),
    TRUSTED_CA_BUNDLE_PATH: e.caCert,
    PROBE_INTERVAL_SECONDS: "1",
    DRIFT_JITTER_SECONDS: "0",
    AZURE_CLIENT_ID: lab.endpoints.env.AZURE_CLIENT_ID ?? "",
  };
  return { ...settings, ...options.overrides };
}

/** The validated configuration of {@link labSettings}. */
export function labConfig(lab: TestLab, options: LabSettingsOptions = {}): Config {
  return loadConfig(labSettings(lab, options));
}

/** A composition over {@link labConfig}. */
export function labComposition(
  lab: TestLab,
  options: LabSettingsOptions & CompositionOptions = {},
): Composition {
  return createComposition(labConfig(lab, options), options);
}

/** A private Azurite on ephemeral ports with a temporary data folder; `stop()` removes it. */
export async function startTestAzurite(): Promise<AzuriteHandle> {
  const location = mkdtempSync(join(tmpdir(), "azurite-"));
  const handle = await ensureAzurite({ location, ports: "ephemeral" });
  return {
    ...handle,
    async stop() {
      await handle.stop();
      rmSync(location, { recursive: true, force: true });
    },
  };
}
