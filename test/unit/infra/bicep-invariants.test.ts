import { test } from "node:test";
import assert from "node:assert/strict";
import { LOCAL_ONLY_SETTINGS, SETTING_NAMES, loadConfig } from "../../../src/config.js";
import {
  CHECKS,
  checkInfra,
  readInfraFiles,
  type CheckName,
  type InfraSources,
} from "../../support/bicepInvariants.js";

const real = (): InfraSources => ({
  ...readInfraFiles(),
  configSettings: SETTING_NAMES,
  configLocalOnly: LOCAL_ONLY_SETTINGS,
});

/** A copy of the sources with one file's text changed; fails if the change does not apply. */
function mutate(sources: InfraSources, file: string, change: (text: string) => string): InfraSources {
  const copy: InfraSources = { ...sources, bicep: { ...sources.bicep } };
  const before = file === "local.settings.sample.json" ? sources.sampleSettings : sources.bicep[file];
  assert.ok(before !== undefined, `no file ${file}`);
  const after = change(before);
  assert.notEqual(after, before, `the mutation of ${file} changed nothing`);
  if (file === "local.settings.sample.json") copy.sampleSettings = after;
  else copy.bicep[file] = after;
  return copy;
}

/** Replaces one exact snippet (which must occur) in the text. */
const replace =
  (from: string | RegExp, to: string) =>
  (text: string): string => {
    assert.ok(
      typeof from === "string" ? text.includes(from) : from.test(text),
      `snippet not found: ${String(from)}`,
    );
    return text.replace(from, to);
  };

/** Removes the declaration of one resource (from `resource <symbol>` to its closing brace at column 0). */
const removeResource = (symbol: string) =>
  replace(new RegExp(`\\nresource ${symbol} [^]*?\\n[}\\]]\\n`), "\n");

const sampleWithout =
  (
    mutateJson: (json: {
      Values: Record<string, string>;
      _localOnly: string[];
      _descriptions: object;
    }) => void,
  ) =>
  (text: string): string => {
    const json = JSON.parse(text) as Parameters<typeof mutateJson>[0];
    mutateJson(json);
    return JSON.stringify(json, null, 2);
  };

test("the templates in infra/ keep every security invariant", () => {
  assert.deepEqual(checkInfra(real()), {});
});

test("the sample settings are a configuration the app starts with", () => {
  const values = (JSON.parse(real().sampleSettings) as { Values: Record<string, string> }).Values;
  const config = loadConfig(values);
  assert.deepEqual(config.discovery.kubernetesNamespaces, ["api", "ops"]);
  assert.equal(config.audit.connection.kind, "connectionString");
});

/** One deliberately broken copy per invariant (some invariants get more than one): each must be caught. */
const MUTATIONS: { name: string; check: CheckName; file: string; change: (text: string) => string }[] = [
  {
    name: "the vault grant becomes Key Vault Secrets Officer",
    check: "roleAssignmentsUseKnownRolesOnExactScopes",
    file: "infra/modules/vaultAccess.bicep",
    change: replace(
      "var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'",
      "var keyVaultSecretsUser = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'",
    ),
  },
  {
    name: "the Front Door grant loses its scope (it would cover the whole resource group)",
    check: "roleAssignmentsUseKnownRolesOnExactScopes",
    file: "infra/modules/frontDoorAccess.bicep",
    change: replace("  scope: profile\n", ""),
  },
  {
    name: "the AKS writer is granted on the whole cluster instead of the namespaces",
    check: "roleAssignmentsUseKnownRolesOnExactScopes",
    file: "infra/modules/aksAccess.bicep",
    change: replace("scope: kubernetesNamespaces[i]", "scope: cluster"),
  },
  {
    name: "the queue role is granted on the resource group's storage through a wrong scope symbol",
    check: "roleAssignmentsUseKnownRolesOnExactScopes",
    file: "infra/modules/storage.bicep",
    change: replace(
      "name: guid(storage.id, appPrincipalId, storageQueueDataContributor)\n  scope: storage",
      "name: guid(storage.id, appPrincipalId, storageQueueDataContributor)\n  scope: resourceGroup()",
    ),
  },
  {
    name: "the outcome topic's sender grant is gone",
    check: "everyRoleIsGranted",
    file: "infra/modules/outcomeTopic.bicep",
    change: removeResource("appSendsOutcomes"),
  },
  {
    name: "Certificates Officer is granted whether or not renewal is on",
    check: "certificatesOfficerOnlyWhenRenewing",
    file: "infra/modules/vaultAccess.bicep",
    change: replace("= if (renewalEnabled) {", "= {"),
  },
  {
    name: "the vault module is told renewal is always on",
    check: "certificatesOfficerOnlyWhenRenewing",
    file: "infra/main.bicep",
    change: replace("renewalEnabled: renewOnNearExpiry", "renewalEnabled: true"),
  },
  {
    name: "the read-only grant is made even when renewing",
    check: "certificatesOfficerOnlyWhenRenewing",
    file: "infra/modules/vaultAccess.bicep",
    change: replace("= if (!renewalEnabled) {", "= {"),
  },
  {
    name: "the APIM identities are left out of the vault grants",
    check: "hopIdentitiesReadVaultSecrets",
    file: "infra/main.bicep",
    change: replace(
      "concat(csv(frontDoorPrincipalIds), csv(apimPrincipalIds))",
      "concat(csv(frontDoorPrincipalIds), [])",
    ),
  },
  {
    name: "the AKS writer is granted on kube-system, a namespace the app does not scan",
    check: "aksWriterOnScannedNamespaces",
    file: "infra/main.bicep",
    change: replace("      namespaces: namespaces\n", "      namespaces: ['kube-system']\n"),
  },
  {
    name: "HTTPS only is turned off (with the old value left in a comment)",
    check: "httpsOnly",
    file: "infra/modules/functionApp.bicep",
    change: replace("httpsOnly: true", "httpsOnly: false // httpsOnly: true"),
  },
  {
    name: "the app accepts TLS 1.0",
    check: "tlsMinimum12",
    file: "infra/modules/functionApp.bicep",
    change: replace("      minTlsVersion: '1.2'", "      minTlsVersion: '1.0'"),
  },
  {
    name: "storage accepts TLS 1.0",
    check: "tlsMinimum12",
    file: "infra/modules/storage.bicep",
    change: replace("minimumTlsVersion: 'TLS1_2'", "minimumTlsVersion: 'TLS1_0'"),
  },
  {
    name: "FTPS is allowed",
    check: "ftpAndBasicAuthOff",
    file: "infra/modules/functionApp.bicep",
    change: replace("ftpsState: 'Disabled'", "ftpsState: 'FtpsOnly'"),
  },
  {
    name: "basic publishing credentials are allowed for SCM",
    check: "ftpAndBasicAuthOff",
    file: "infra/modules/functionApp.bicep",
    change: replace(
      "name: 'scm'\n  properties: { allow: false }",
      "name: 'scm'\n  properties: { allow: true }",
    ),
  },
  {
    name: "shared key access is allowed on storage",
    check: "noStorageKeys",
    file: "infra/modules/storage.bicep",
    change: replace("allowSharedKeyAccess: false", "allowSharedKeyAccess: true"),
  },
  {
    name: "the host storage setting becomes a connection string with the account key",
    check: "noStorageKeys",
    file: "infra/main.bicep",
    change: replace(
      "AzureWebJobsStorage__accountName: storageAccountName",
      "AzureWebJobsStorage__accountName: 'DefaultEndpointsProtocol=https;AccountName=${storageAccountName};AccountKey=${listKeys(resourceId('Microsoft.Storage/storageAccounts', storageAccountName), '2023-05-01').keys[0].value}'",
    ),
  },
  {
    name: "the deployment package is read with a connection string",
    check: "noStorageKeys",
    file: "infra/modules/functionApp.bicep",
    change: replace("type: 'UserAssignedIdentity'", "type: 'StorageAccountConnectionString'"),
  },
  {
    name: "the app runs Node.js 20",
    check: "flexConsumptionNode22",
    file: "infra/modules/functionApp.bicep",
    change: replace("version: '22'", "version: '20'"),
  },
  {
    name: "the app uses a system-assigned identity",
    check: "flexConsumptionNode22",
    file: "infra/modules/functionApp.bicep",
    change: replace("type: 'UserAssigned'\n", "type: 'SystemAssigned'\n"),
  },
  {
    name: "the app is not integrated into the virtual network",
    check: "flexConsumptionNode22",
    file: "infra/modules/functionApp.bicep",
    change: replace("    virtualNetworkSubnetId: subnetId\n", ""),
  },
  {
    name: "CertificateExpired is filtered out",
    check: "eventFilterIsTheThreeCertificateTypes",
    file: "infra/modules/vaultEventSubscription.bicep",
    change: replace("        'Microsoft.KeyVault.CertificateExpired'\n", ""),
  },
  {
    name: "secret events are let through too",
    check: "eventFilterIsTheThreeCertificateTypes",
    file: "infra/modules/vaultEventSubscription.bicep",
    change: replace(
      "        'Microsoft.KeyVault.CertificateNewVersionCreated'\n",
      "        'Microsoft.KeyVault.CertificateNewVersionCreated'\n        'Microsoft.KeyVault.SecretNewVersionCreated'\n",
    ),
  },
  {
    name: "events go to another function",
    check: "eventFilterIsTheThreeCertificateTypes",
    file: "infra/modules/vaultEventSubscription.bicep",
    change: replace("/functions/keyVaultEvents'", "/functions/manualRollout'"),
  },
  {
    name: "dead-lettering is removed",
    check: "deadLettering",
    file: "infra/modules/vaultEventSubscription.bicep",
    change: replace("deadLetterWithResourceIdentity: {", "deadLetterWithResourceIdentityRemoved: {"),
  },
  {
    name: "the retry policy is removed",
    check: "deadLettering",
    file: "infra/modules/vaultEventSubscription.bicep",
    change: replace(/ {4}retryPolicy: \{[^}]*\}\n/, ""),
  },
  {
    name: "the alert watches deliveries instead of dead letters",
    check: "deadLettering",
    file: "infra/modules/vaultEvents.bicep",
    change: replace("metricName: 'DeadLetteredCount'", "metricName: 'DeliverySuccessCount'"),
  },
  {
    name: "the outcome topic accepts access keys",
    check: "outcomeTopicCloudEventsNoKeys",
    file: "infra/modules/outcomeTopic.bicep",
    change: replace("disableLocalAuth: true", "disableLocalAuth: false"),
  },
  {
    name: "a lab-only setting (probe host overrides) is set in Azure",
    check: "appSettingsAreExactlyTheSample",
    file: "infra/main.bicep",
    change: replace(
      "  DRIFT_MODE: driftMode\n",
      "  DRIFT_MODE: driftMode\n  PROBE_HOST_OVERRIDES: 'api.contoso.com=10.0.0.1:443'\n",
    ),
  },
  {
    name: "a setting the code reads is not set in Azure",
    check: "appSettingsAreExactlyTheSample",
    file: "infra/main.bicep",
    change: replace("  DRIFT_MODE: driftMode\n", ""),
  },
  {
    name: "FUNCTIONS_WORKER_RUNTIME is set as an app setting on Flex Consumption",
    check: "appSettingsAreExactlyTheSample",
    file: "infra/main.bicep",
    change: replace(
      "  DRIFT_MODE: driftMode\n",
      "  DRIFT_MODE: driftMode\n  FUNCTIONS_WORKER_RUNTIME: 'node'\n",
    ),
  },
  {
    name: "the sample forgets a setting the code reads",
    check: "settingsAgreeWithConfig",
    file: "local.settings.sample.json",
    change: sampleWithout((json) => delete json.Values.DRIFT_MODE),
  },
  {
    name: "the sample stops describing a setting",
    check: "settingsAgreeWithConfig",
    file: "local.settings.sample.json",
    change: sampleWithout((json) => delete (json._descriptions as Record<string, string>).TIME_SCALE),
  },
  {
    name: "the sample no longer marks the time scale lab-only",
    check: "settingsAgreeWithConfig",
    file: "local.settings.sample.json",
    change: sampleWithout((json) => (json._localOnly = json._localOnly.filter((k) => k !== "TIME_SCALE"))),
  },
];

test("every invariant has at least one broken copy that shows it can fail", () => {
  const covered = new Set(MUTATIONS.map((m) => m.check));
  assert.deepEqual(
    Object.keys(CHECKS).filter((name) => !covered.has(name as CheckName)),
    [],
  );
});

for (const mutation of MUTATIONS) {
  test(`${mutation.check} catches a copy where ${mutation.name}`, () => {
    const failures = checkInfra(mutate(real(), mutation.file, mutation.change));
    assert.ok(
      failures[mutation.check]?.length,
      `${mutation.check} did not notice; failures: ${JSON.stringify(failures)}`,
    );
  });
}

test("comments that look like broken (or fixed) settings change nothing", () => {
  let sources = real();
  const decoy = [
    "// allowSharedKeyAccess: true",
    "/* httpsOnly: false",
    "   listKeys(storage) AccountKey=abc",
    "   'Microsoft.KeyVault.SecretNewVersionCreated' */",
    "// resource extra 'Microsoft.Authorization/roleAssignments@2022-04-01' = { scope: resourceGroup() }",
    "",
  ].join("\n");
  for (const file of Object.keys(sources.bicep))
    sources = mutate(sources, file, (t) => decoy + t.replace(/\n\n/g, `\n${decoy}\n`));
  assert.deepEqual(checkInfra(sources), {});
  // and a commented-out fix does not hide the broken line below it
  const broken = mutate(
    sources,
    "infra/modules/storage.bicep",
    replace("allowSharedKeyAccess: false", "// allowSharedKeyAccess: false\n    allowSharedKeyAccess: true"),
  );
  assert.ok(checkInfra(broken).noStorageKeys?.length);
});
