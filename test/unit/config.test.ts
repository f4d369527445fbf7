import { test } from "node:test";
import assert from "node:assert/strict";
import { CronExpressionParser } from "cron-parser";
import {
  LOCAL_ONLY_SETTINGS,
  SETTING_NAMES,
  isNcrontab,
  loadConfig,
  scaledSeconds,
} from "../../src/config.js";
import { isConfigurationError } from "../../src/errors.js";

/** The smallest environment a deployment can start with: the three things that have no default. */
const minimal = (): Record<string, string | undefined> => ({
  ALLOWED_VAULT_URLS: "https://kv-prod.vault.azure.net",
  OUTCOME_TOPIC_ENDPOINT: "https://egt-outcomes.westeurope-1.eventgrid.azure.net/api/events",
  AzureWebJobsStorage: "UseDevelopmentStorage=true",
});

/** Runs loadConfig and returns the ConfigurationError it throws (fails the test when it does not). */
function configurationErrorOf(env: Record<string, string | undefined>) {
  try {
    loadConfig(env);
  } catch (e) {
    assert.ok(isConfigurationError(e), `expected a ConfigurationError, got ${String(e)}`);
    return e;
  }
  assert.fail("loadConfig accepted a bad configuration");
}

test("a minimal environment gets every documented default", () => {
  const c = loadConfig(minimal());
  assert.deepEqual(c.allowedVaultUrls, ["https://kv-prod.vault.azure.net"]);
  assert.deepEqual(c.arm, {
    endpoint: "https://management.azure.com",
    audience: "https://management.azure.com",
    scope: "https://management.azure.com/.default",
  });
  assert.equal(c.keyVault.disableChallengeResourceVerification, false);
  assert.equal(c.outcomeTopic.key, undefined);
  assert.equal(c.audit.tableName, "RolloutAudit");
  assert.equal(c.audit.connectionName, "AzureWebJobsStorage");
  assert.deepEqual(c.audit.connection, {
    kind: "connectionString",
    connectionString: "UseDevelopmentStorage=true",
  });
  assert.deepEqual(c.drift, { schedule: "0 0 0,6,12,18 * * *", jitterSeconds: 300, mode: "repair" });
  assert.equal(c.probes.intervalSeconds, 15);
  assert.deepEqual(c.probes.deadlineSeconds, { kubernetes: 300, apim: 3600, frontDoor: 86400 });
  assert.equal(c.probes.hostOverrides.size, 0);
  assert.deepEqual(c.rollout, {
    stageOrder: ["kubernetes", "apim", "frontDoor"],
    minRemainingValidityDays: 30,
    renewOnNearExpiry: true,
    renewalDeadlineSeconds: 86400,
    restartDeployments: false,
    waitRoundsPerExecution: 20,
  });
  assert.deepEqual(c.discovery, {
    frontDoorScopes: [],
    apimScopes: [],
    aksClusters: [],
    kubernetesNamespaces: [],
    writePolicy: new Map(),
  });
  assert.deepEqual(c.identity, {});
  assert.deepEqual(c.trust, {});
  assert.equal(c.timeScale, 1);
});

test("the default drift schedule is itself a valid schedule", () => {
  assert.ok(isNcrontab(loadConfig(minimal()).drift.schedule));
});

test("blank settings count as unset, as an empty app setting does in Azure", () => {
  const c = loadConfig({ ...minimal(), DRIFT_MODE: "  ", PROBE_INTERVAL_SECONDS: "", AZURE_CLIENT_ID: "" });
  assert.equal(c.drift.mode, "repair");
  assert.equal(c.probes.intervalSeconds, 15);
  assert.equal(c.identity.clientId, undefined);
});

test("every setting is parsed into its typed field", () => {
  const c = loadConfig({
    ...minimal(),
    ALLOWED_VAULT_URLS: " https://KV-Prod.vault.azure.net/ ,https://kv-lab.vault.localtest:8443 ",
    FRONT_DOOR_SCOPES:
      "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-edge/providers/Microsoft.Cdn/profiles/afd-prod,/subscriptions/22222222-2222-2222-2222-222222222222",
    APIM_SCOPES: "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-apim",
    AKS_CLUSTER_IDS:
      "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/aks-prod",
    KUBERNETES_NAMESPACES: "ingress-nginx, api",
    KUBERNETES_KUBECONFIG: ".lab/kubeconfig",
    BINDINGS_FILE: "bindings.json",
    ARM_ENDPOINT: "https://127.0.0.1:9443/",
    ARM_AUDIENCE: "https://management.core.windows.net/",
    KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: "TRUE",
    OUTCOME_TOPIC_KEY: "k3y",
    AUDIT_TABLE_NAME: "Audit2",
    DRIFT_SCHEDULE: "0 */15 * * * MON-FRI",
    DRIFT_JITTER_SECONDS: "0",
    DRIFT_MODE: "report",
    PROBE_INTERVAL_SECONDS: "5",
    PROBE_DEADLINE_KUBERNETES_SECONDS: "60",
    PROBE_DEADLINE_APIM_SECONDS: "600",
    PROBE_DEADLINE_FRONT_DOOR_SECONDS: "86400",
    PROBE_HOST_OVERRIDES: "api.contoso.com=127.0.0.1:8443|127.0.0.1:8444, APIM.contoso.com=[::1]:9443",
    STAGE_ORDER: "frontDoor, apim, kubernetes",
    PREFLIGHT_MIN_VALIDITY_DAYS: "7",
    RENEW_ON_NEAR_EXPIRY: "no",
    RENEWAL_DEADLINE_SECONDS: "3600",
    ROLLOUT_RESTART_DEPLOYMENTS: "1",
    WAIT_ROUNDS_PER_EXECUTION: "7",
    AZURE_CLIENT_ID: "0f4b7c3e-8d1a-4c55-9a1e-3b2f6d7e8a90",
    TRUSTED_CA_BUNDLE_PATH: ".lab/ca.pem",
    TIME_SCALE: "60",
  });
  assert.deepEqual(c.allowedVaultUrls, [
    "https://kv-prod.vault.azure.net",
    "https://kv-lab.vault.localtest:8443",
  ]);
  assert.deepEqual(c.discovery.frontDoorScopes, [
    {
      id: "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-edge/providers/Microsoft.Cdn/profiles/afd-prod",
      subscriptionId: "11111111-1111-1111-1111-111111111111",
      resourceGroup: "rg-edge",
      resourceName: "afd-prod",
    },
    {
      id: "/subscriptions/22222222-2222-2222-2222-222222222222",
      subscriptionId: "22222222-2222-2222-2222-222222222222",
    },
  ]);
  assert.equal(c.discovery.apimScopes[0]?.resourceGroup, "rg-apim");
  assert.equal(c.discovery.apimScopes[0]?.resourceName, undefined);
  assert.deepEqual(c.discovery.aksClusters[0], {
    id: "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/aks-prod",
    subscriptionId: "11111111-1111-1111-1111-111111111111",
    resourceGroup: "rg-aks",
    name: "aks-prod",
  });
  assert.deepEqual(c.discovery.kubernetesNamespaces, ["ingress-nginx", "api"]);
  assert.equal(c.discovery.kubeconfigPath, ".lab/kubeconfig");
  assert.equal(c.discovery.bindingsFile, "bindings.json");
  assert.deepEqual(c.arm, {
    endpoint: "https://127.0.0.1:9443",
    audience: "https://management.core.windows.net",
    scope: "https://management.core.windows.net/.default",
  });
  assert.equal(c.keyVault.disableChallengeResourceVerification, true);
  assert.equal(c.outcomeTopic.key, "k3y");
  assert.equal(c.audit.tableName, "Audit2");
  assert.deepEqual(c.drift, { schedule: "0 */15 * * * MON-FRI", jitterSeconds: 0, mode: "report" });
  assert.deepEqual(c.probes.deadlineSeconds, { kubernetes: 60, apim: 600, frontDoor: 86400 });
  assert.equal(c.probes.intervalSeconds, 5);
  assert.deepEqual(
    [...c.probes.hostOverrides],
    [
      [
        "api.contoso.com",
        [
          { address: "127.0.0.1", port: 8443 },
          { address: "127.0.0.1", port: 8444 },
        ],
      ],
      ["apim.contoso.com", [{ address: "::1", port: 9443 }]],
    ],
  );
  assert.deepEqual(c.rollout, {
    stageOrder: ["frontDoor", "apim", "kubernetes"],
    minRemainingValidityDays: 7,
    renewOnNearExpiry: false,
    renewalDeadlineSeconds: 3600,
    restartDeployments: true,
    waitRoundsPerExecution: 7,
  });
  assert.equal(c.identity.clientId, "0f4b7c3e-8d1a-4c55-9a1e-3b2f6d7e8a90");
  assert.equal(c.trust.caBundlePath, ".lab/ca.pem");
  assert.equal(scaledSeconds(c, c.probes.deadlineSeconds.frontDoor), 1440);
});

test("an identity-based storage connection is resolved the way the Functions host resolves it", () => {
  const base = { ...minimal(), AzureWebJobsStorage: undefined };
  const clientId = "0f4b7c3e-8d1a-4c55-9a1e-3b2f6d7e8a90";
  const cases: { name: string; env: Record<string, string>; expected: unknown }[] = [
    {
      name: "an account name gives the account's table endpoint and the app's identity",
      env: { AzureWebJobsStorage__accountName: "stcertrot", AZURE_CLIENT_ID: clientId },
      expected: { kind: "identity", tableServiceUri: "https://stcertrot.table.core.windows.net", clientId },
    },
    {
      name: "an explicit table URI wins over the account name",
      env: {
        AzureWebJobsStorage__accountName: "stcertrot",
        AzureWebJobsStorage__tableServiceUri: "https://st.table.core.usgovcloudapi.net",
      },
      expected: { kind: "identity", tableServiceUri: "https://st.table.core.usgovcloudapi.net" },
    },
    {
      name: "the connection's own client id wins over AZURE_CLIENT_ID",
      env: {
        AzureWebJobsStorage__accountName: "st",
        AzureWebJobsStorage__clientId: "11111111-2222-3333-4444-555555555555",
        AZURE_CLIENT_ID: clientId,
      },
      expected: {
        kind: "identity",
        tableServiceUri: "https://st.table.core.windows.net",
        clientId: "11111111-2222-3333-4444-555555555555",
      },
    },
    {
      name: "AUDIT_STORAGE_CONNECTION names another connection",
      env: { AUDIT_STORAGE_CONNECTION: "AuditStorage", AuditStorage: "UseDevelopmentStorage=true" },
      expected: { kind: "connectionString", connectionString: "UseDevelopmentStorage=true" },
    },
  ];
  for (const { name, env, expected } of cases) {
    assert.deepEqual(loadConfig({ ...base, ...env }).audit.connection, expected, name);
  }
});

test("each bad setting stops the app with a sentence that names it", () => {
  const cases: { name: string; env: Record<string, string | undefined>; setting: string; says: RegExp }[] = [
    {
      name: "no allowed vaults",
      env: { ALLOWED_VAULT_URLS: undefined },
      setting: "ALLOWED_VAULT_URLS",
      says: /is required/,
    },
    {
      name: "a vault URL over plain http",
      env: { ALLOWED_VAULT_URLS: "http://kv.vault.azure.net" },
      setting: "ALLOWED_VAULT_URLS",
      says: /'http:\/\/kv\.vault\.azure\.net' is not https/,
    },
    {
      name: "a vault URL with a path",
      env: { ALLOWED_VAULT_URLS: "https://kv.vault.azure.net/certificates/x" },
      setting: "ALLOWED_VAULT_URLS",
      says: /without a path/,
    },
    {
      name: "a Front Door scope that is an APIM id",
      env: {
        FRONT_DOOR_SCOPES:
          "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim",
      },
      setting: "FRONT_DOOR_SCOPES",
      says: /Front Door profile id/,
    },
    {
      name: "an APIM scope that is not ARM",
      env: { APIM_SCOPES: "rg-apim" },
      setting: "APIM_SCOPES",
      says: /'rg-apim'/,
    },
    {
      name: "a cluster given by name",
      env: { AKS_CLUSTER_IDS: "aks-prod", KUBERNETES_NAMESPACES: "x" },
      setting: "AKS_CLUSTER_IDS",
      says: /AKS cluster resource ids/,
    },
    {
      name: "clusters without namespaces",
      env: {
        AKS_CLUSTER_IDS:
          "/subscriptions/s/resourceGroups/r/providers/Microsoft.ContainerService/managedClusters/c",
      },
      setting: "KUBERNETES_NAMESPACES",
      says: /required when AKS_CLUSTER_IDS/,
    },
    {
      name: "a namespace that is not a DNS label",
      env: { KUBERNETES_NAMESPACES: "Ingress_Nginx" },
      setting: "KUBERNETES_NAMESPACES",
      says: /DNS labels/,
    },
    {
      name: "an ARM endpoint over http",
      env: { ARM_ENDPOINT: "http://127.0.0.1" },
      setting: "ARM_ENDPOINT",
      says: /https/,
    },
    {
      name: "a bad ARM audience",
      env: { ARM_AUDIENCE: "management" },
      setting: "ARM_AUDIENCE",
      says: /https/,
    },
    {
      name: "a yes/no flag that is neither",
      env: { KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: "sometimes" },
      setting: "KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION",
      says: /true or false.*'sometimes'/,
    },
    {
      name: "no outcome topic",
      env: { OUTCOME_TOPIC_ENDPOINT: " " },
      setting: "OUTCOME_TOPIC_ENDPOINT",
      says: /is required/,
    },
    {
      name: "a table name with a dash",
      env: { AUDIT_TABLE_NAME: "rollout-audit" },
      setting: "AUDIT_TABLE_NAME",
      says: /table name/,
    },
    {
      name: "a connection name with a space",
      env: { AUDIT_STORAGE_CONNECTION: "my storage" },
      setting: "AUDIT_STORAGE_CONNECTION",
      says: /name of a connection setting/,
    },
    {
      name: "no storage connection at all",
      env: { AzureWebJobsStorage: undefined },
      setting: "AzureWebJobsStorage",
      says: /AzureWebJobsStorage__accountName/,
    },
    {
      name: "a five-field cron schedule",
      env: { DRIFT_SCHEDULE: "0 */6 * * *" },
      setting: "DRIFT_SCHEDULE",
      says: /six fields.*'0 \*\/6 \* \* \*'/,
    },
    {
      name: "a negative jitter",
      env: { DRIFT_JITTER_SECONDS: "-1" },
      setting: "DRIFT_JITTER_SECONDS",
      says: /at least 0/,
    },
    {
      name: "an unknown drift mode",
      env: { DRIFT_MODE: "fix" },
      setting: "DRIFT_MODE",
      says: /'repair' or 'report'/,
    },
    {
      name: "a probe interval of zero",
      env: { PROBE_INTERVAL_SECONDS: "0" },
      setting: "PROBE_INTERVAL_SECONDS",
      says: /at least 1/,
    },
    {
      name: "a deadline in words",
      env: { PROBE_DEADLINE_APIM_SECONDS: "half an hour" },
      setting: "PROBE_DEADLINE_APIM_SECONDS",
      says: /number/,
    },
    {
      name: "a fractional deadline",
      env: { PROBE_DEADLINE_KUBERNETES_SECONDS: "1.5" },
      setting: "PROBE_DEADLINE_KUBERNETES_SECONDS",
      says: /whole number/,
    },
    {
      name: "a Front Door deadline of zero",
      env: { PROBE_DEADLINE_FRONT_DOOR_SECONDS: "0" },
      setting: "PROBE_DEADLINE_FRONT_DOOR_SECONDS",
      says: /at least 1/,
    },
    {
      name: "a host override without a port",
      env: { PROBE_HOST_OVERRIDES: "api.contoso.com=127.0.0.1" },
      setting: "PROBE_HOST_OVERRIDES",
      says: /host=address:port/,
    },
    {
      name: "a host override with port 70000",
      env: { PROBE_HOST_OVERRIDES: "api.contoso.com=127.0.0.1:70000" },
      setting: "PROBE_HOST_OVERRIDES",
      says: /host=address:port/,
    },
    {
      name: "a stage order missing a stage",
      env: { STAGE_ORDER: "kubernetes,apim" },
      setting: "STAGE_ORDER",
      says: /exactly once/,
    },
    {
      name: "a stage order naming a stage twice",
      env: { STAGE_ORDER: "apim,apim,frontDoor" },
      setting: "STAGE_ORDER",
      says: /exactly once/,
    },
    {
      name: "an unknown stage",
      env: { STAGE_ORDER: "aks,apim,frontDoor" },
      setting: "STAGE_ORDER",
      says: /stages/,
    },
    {
      name: "a validity window in the past",
      env: { PREFLIGHT_MIN_VALIDITY_DAYS: "-3" },
      setting: "PREFLIGHT_MIN_VALIDITY_DAYS",
      says: /at least 0/,
    },
    {
      name: "a renewal flag in words",
      env: { RENEW_ON_NEAR_EXPIRY: "maybe" },
      setting: "RENEW_ON_NEAR_EXPIRY",
      says: /true or false/,
    },
    {
      name: "a renewal deadline of zero",
      env: { RENEWAL_DEADLINE_SECONDS: "0" },
      setting: "RENEWAL_DEADLINE_SECONDS",
      says: /at least 1/,
    },
    {
      name: "a restart flag in words",
      env: { ROLLOUT_RESTART_DEPLOYMENTS: "on" },
      setting: "ROLLOUT_RESTART_DEPLOYMENTS",
      says: /true or false/,
    },
    {
      name: "a client id that is a name",
      env: { AZURE_CLIENT_ID: "id-certrot" },
      setting: "AZURE_CLIENT_ID",
      says: /GUID/,
    },
    { name: "time slowed down", env: { TIME_SCALE: "0.5" }, setting: "TIME_SCALE", says: /at least 1/ },
  ];
  for (const { name, env, setting, says } of cases) {
    const e = configurationErrorOf({ ...minimal(), ...env });
    assert.equal(e.setting, setting, name);
    assert.match(e.message, new RegExp(`^App setting ${setting} `), name);
    assert.match(e.message, says, name);
  }
});

test("every problem is reported at once, the first one in the error's setting", () => {
  const e = configurationErrorOf({ DRIFT_MODE: "fix", STAGE_ORDER: "apim" });
  assert.equal(e.setting, "ALLOWED_VAULT_URLS");
  for (const name of [
    "ALLOWED_VAULT_URLS",
    "OUTCOME_TOPIC_ENDPOINT",
    "DRIFT_MODE",
    "STAGE_ORDER",
    "AzureWebJobsStorage",
  ]) {
    assert.match(e.message, new RegExp(`App setting ${name} `), name);
  }
});

test("a secret setting's value never appears in an error", () => {
  const key = "c2VjcmV0LWtleS1m b3ItdGhlLWxhYi10b3BpYw==";
  const e = configurationErrorOf({ ...minimal(), OUTCOME_TOPIC_KEY: key });
  assert.equal(e.setting, "OUTCOME_TOPIC_KEY");
  assert.ok(!e.message.includes("c2VjcmV0"), e.message);
});

test("the lab-only settings are exactly the ones that must never reach Azure", () => {
  assert.deepEqual([...LOCAL_ONLY_SETTINGS].sort(), [
    "KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION",
    "KUBERNETES_KUBECONFIG",
    "OUTCOME_TOPIC_KEY",
    "PROBE_HOST_OVERRIDES",
    "TIME_SCALE",
  ]);
  for (const name of LOCAL_ONLY_SETTINGS) assert.ok(SETTING_NAMES.includes(name));
});

test("the schedule check agrees with cron-parser on six-field expressions", () => {
  const expressions = [
    "0 0 0,6,12,18 * * *",
    "0 */5 * * * *",
    "*/30 * * * * *",
    "0 30 9 * * MON-FRI",
    "0 0 0 1 JAN,JUL *",
    "0 0 12 * * SUN",
    "5-10 0 0 * * *",
    "0 0 0 * * 0-6",
    "0 0 */6 * *",
    "0 0 */6 * * * *",
    "60 * * * * *",
    "0 60 * * * *",
    "0 0 24 * * *",
    "0 0 0 0 * *",
    "0 0 0 * 13 *",
    "0 0 0 * * 8",
    "0 0 0 * * FOO",
    "0 */0 * * * *",
    "0 10-5 * * * *",
    "a b c d e f",
    "",
  ];
  for (const expr of expressions) {
    let accepted: boolean;
    try {
      CronExpressionParser.parse(expr, { strict: true });
      accepted = true;
    } catch {
      accepted = false;
    }
    assert.equal(isNcrontab(expr), accepted, `'${expr}'`);
  }
});
