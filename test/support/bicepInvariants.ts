/**
 * The security invariants of `infra/`, as named checks over the Bicep text (read with the small
 * reader in `bicep.ts`; no compiler needed) and the settings contract shared by
 * `local.settings.sample.json`, `src/config.ts` and the Function App's app settings.
 *
 * Each check returns the problems it finds, one sentence each; none means the invariant holds.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, posix } from "node:path";
import { fileURLToPath } from "node:url";
import {
  at,
  identifiers,
  parseBicep,
  text,
  type BicepFile,
  type Module,
  type Resource,
  type Token,
  type Value,
} from "./bicep.js";

/** Every built-in role the templates may assign, with the one resource type it may be assigned on. */
export const ROLES: Readonly<Record<string, { name: string; scope: string }>> = {
  "a4417e6f-fecd-4de8-b567-7b0420556985": {
    name: "Key Vault Certificates Officer",
    scope: "Microsoft.KeyVault/vaults",
  },
  "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba": {
    name: "Key Vault Certificate User",
    scope: "Microsoft.KeyVault/vaults",
  },
  "4633458b-17de-408a-b874-0445c86b69e6": {
    name: "Key Vault Secrets User",
    scope: "Microsoft.KeyVault/vaults",
  },
  "ec156ff8-a8d1-4d15-830c-5b80698ca432": {
    name: "CDN Profile Contributor",
    scope: "Microsoft.Cdn/profiles",
  },
  "312a565d-c81f-4fd8-895a-4e21e48d571c": {
    name: "API Management Service Contributor",
    scope: "Microsoft.ApiManagement/service",
  },
  "a7ffa36f-339b-4b5c-8bdf-e2c188b2c0eb": {
    name: "Azure Kubernetes Service RBAC Writer",
    scope: "Microsoft.ContainerService/managedClusters/namespaces",
  },
  "acdd72a7-3385-48ef-bd42-f606fba81ae7": {
    name: "Reader",
    scope: "Microsoft.ContainerService/managedClusters",
  },
  "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": {
    name: "Storage Blob Data Owner",
    scope: "Microsoft.Storage/storageAccounts",
  },
  "974c5e8b-45b9-4653-ba55-5f855dd0fb88": {
    name: "Storage Queue Data Contributor",
    scope: "Microsoft.Storage/storageAccounts",
  },
  "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": {
    name: "Storage Table Data Contributor",
    scope: "Microsoft.Storage/storageAccounts",
  },
  "ba92f5b4-2d11-453d-a403-e96b0029c9fe": {
    name: "Storage Blob Data Contributor",
    scope: "Microsoft.Storage/storageAccounts/blobServices/containers",
  },
  "d5a91429-5739-47e2-a06b-3470a27159e7": {
    name: "EventGrid Data Sender",
    scope: "Microsoft.EventGrid/topics",
  },
};

const CERTIFICATES_OFFICER = "a4417e6f-fecd-4de8-b567-7b0420556985";
const CERTIFICATE_USER = "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba";
const SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6";

/** The three Key Vault event types the control plane acts on, and no other. */
export const CERTIFICATE_EVENT_TYPES = [
  "Microsoft.KeyVault.CertificateNearExpiry",
  "Microsoft.KeyVault.CertificateExpired",
  "Microsoft.KeyVault.CertificateNewVersionCreated",
] as const;

/**
 * Settings read by the Functions host itself rather than by `loadConfig`. In Azure two of them are
 * carried differently: the worker runtime by `functionAppConfig.runtime` (Flex Consumption rejects
 * FUNCTIONS_WORKER_RUNTIME as an app setting) and storage by an identity-based connection.
 */
export const HOST_SETTINGS = [
  "FUNCTIONS_WORKER_RUNTIME",
  "AzureWebJobsStorage",
  "AzureWebJobsFeatureFlags",
  "APPLICATIONINSIGHTS_CONNECTION_STRING",
] as const;

/** What the checks read: the Bicep files (path → text) and the settings contract. */
export interface InfraSources {
  bicep: Record<string, string>;
  /** The text of local.settings.sample.json. */
  sampleSettings: string;
  /** `SETTING_NAMES` and `LOCAL_ONLY_SETTINGS` of src/config.ts. */
  configSettings: readonly string[];
  configLocalOnly: readonly string[];
}

interface SampleSettings {
  Values: Record<string, string>;
  _localOnly: string[];
  _descriptions: Record<string, string>;
}

/** The parsed sources every check looks at. */
export interface InfraModel {
  files: BicepFile[];
  main: BicepFile;
  sample: SampleSettings;
  configSettings: readonly string[];
  configLocalOnly: readonly string[];
}

export function buildModel(sources: InfraSources): InfraModel {
  const files = Object.entries(sources.bicep).map(([path, source]) => parseBicep(path, source));
  const main = files.find((f) => f.path === "infra/main.bicep");
  if (!main) throw new Error("infra/main.bicep is missing");
  return {
    files,
    main,
    sample: JSON.parse(sources.sampleSettings) as SampleSettings,
    configSettings: sources.configSettings,
    configLocalOnly: sources.configLocalOnly,
  };
}

// ---- model helpers ---------------------------------------------------------------------------------

const resourcesOf = (m: InfraModel, type: string, options: { existing?: boolean } = {}) =>
  m.files.flatMap((file) =>
    file.resources
      .filter((r) => r.type.toLowerCase() === type.toLowerCase())
      .filter((r) => options.existing === undefined || r.existing === options.existing)
      .map((resource) => ({ file, resource })),
  );

const where = (file: BicepFile, r: Resource | Module) => `${file.path} '${r.symbol}'`;

const literal = (v: Value | undefined): string | boolean | number | undefined => {
  if (v?.kind === "string") return v.value;
  if (v?.kind === "expr" && v.tokens.length === 1) {
    const t = v.tokens[0]!;
    if (t.kind === "ident" && (t.value === "true" || t.value === "false")) return t.value === "true";
    if (t.kind === "number") return Number(t.value);
  }
  return undefined;
};

const single = (v: Value | undefined): string | undefined =>
  v?.kind === "expr" && v.tokens.length === 1 && v.tokens[0]!.kind === "ident"
    ? v.tokens[0]!.value
    : undefined;

/** The module declarations (with their file) that instantiate `file`. */
function callersOf(m: InfraModel, file: BicepFile): { caller: BicepFile; module: Module }[] {
  return m.files.flatMap((caller) =>
    caller.modules
      .filter((mod) => posix.join(posix.dirname(caller.path), mod.path) === file.path)
      .map((module) => ({ caller, module })),
  );
}

/** Follows an identifier through variables and module parameters to the value it stands for. */
function resolve(m: InfraModel, file: BicepFile, value: Value | undefined, depth = 0): Value | undefined {
  const name = single(value);
  if (name === undefined || depth > 10) return value;
  const variable = file.vars.get(name);
  if (variable) return resolve(m, file, variable, depth + 1);
  if (file.params.has(name)) {
    const [call] = callersOf(m, file);
    if (call) return resolve(m, call.caller, at(call.module.body, `params.${name}`), depth + 1);
  }
  return value;
}

/** The top-level parameters an expression finally depends on, traced through vars and module calls. */
function rootParams(m: InfraModel, file: BicepFile, ids: Set<string>, depth = 0): Set<string> {
  const out = new Set<string>();
  if (depth > 10) return out;
  for (const id of ids) {
    const variable = file.vars.get(id);
    if (variable) {
      for (const r of rootParams(m, file, identifiers(variable), depth + 1)) out.add(r);
    } else if (file.params.has(id)) {
      const calls = callersOf(m, file);
      if (calls.length === 0) out.add(id);
      for (const { caller, module } of calls) {
        const bound = at(module.body, `params.${id}`);
        for (const r of rootParams(m, caller, identifiers(bound), depth + 1)) out.add(r);
      }
    }
  }
  return out;
}

interface RoleAssignment {
  file: BicepFile;
  resource: Resource;
  roles: string[];
  scopeSymbol?: string;
  scopeType?: string;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function roleAssignments(m: InfraModel): RoleAssignment[] {
  return resourcesOf(m, "Microsoft.Authorization/roleAssignments").map(({ file, resource }) => {
    const definition = at(resource.body, "properties.roleDefinitionId");
    const tokens: Token[] = definition?.kind === "expr" ? definition.tokens : [];
    const strings = [
      ...(definition?.kind === "string" ? [definition.value] : []),
      ...tokens.filter((t) => t.kind === "string").map((t) => t.value),
      ...tokens
        .filter((t) => t.kind === "ident")
        .map((t) => file.vars.get(t.value))
        .filter((v): v is Value => v?.kind === "string")
        .map((v) => (v.kind === "string" ? v.value : "")),
    ];
    const roles = strings.flatMap((s) => s.split("/")).filter((s) => GUID.test(s));
    const scope = at(resource.body, "scope");
    const scopeSymbol = scope?.kind === "expr" ? scope.tokens[0]?.value : undefined;
    const scopeType = file.resources.find((r) => r.symbol === scopeSymbol)?.type;
    return { file, resource, roles: roles.map((r) => r.toLowerCase()), scopeSymbol, scopeType };
  });
}

const appSettingsOf = (m: InfraModel) =>
  resourcesOf(m, "Microsoft.Web/sites/config", { existing: false })
    .filter(({ resource }) => literal(at(resource.body, "name")) === "appsettings")
    .map(({ file, resource }) => ({
      file,
      resource,
      value: resolve(m, file, at(resource.body, "properties")),
    }));

const sites = (m: InfraModel) => resourcesOf(m, "Microsoft.Web/sites", { existing: false });

// ---- the checks ------------------------------------------------------------------------------------

export type Check = (m: InfraModel) => string[];

/** Every role assignment names one known built-in role, on exactly the resource type that role is for. */
const roleAssignmentsUseKnownRolesOnExactScopes: Check = (m) =>
  roleAssignments(m).flatMap((a) => {
    const at_ = where(a.file, a.resource);
    const [role, ...others] = a.roles;
    if (role === undefined || others.length > 0)
      return [`${at_} must name exactly one role definition GUID, found ${a.roles.length}.`];
    const known = ROLES[role];
    if (!known) return [`${at_} assigns role ${role}, which is not one the control plane needs.`];
    if (a.scopeSymbol === undefined)
      return [
        `${at_} (${known.name}) has no scope: it would apply to the whole resource group or subscription.`,
      ];
    if (a.scopeType?.toLowerCase() !== known.scope.toLowerCase())
      return [
        `${at_} (${known.name}) is scoped to '${a.scopeSymbol}' (${a.scopeType ?? "not a resource of this file"}), not to a ${known.scope}.`,
      ];
    return [];
  });

/** Each role the control plane needs is granted somewhere. */
const everyRoleIsGranted: Check = (m) => {
  const granted = new Set(roleAssignments(m).flatMap((a) => a.roles));
  return Object.entries(ROLES)
    .filter(([id]) => !granted.has(id))
    .map(([, role]) => `No role assignment grants ${role.name}.`);
};

/** Certificates Officer (renewal) only when RENEW_ON_NEAR_EXPIRY is on, Certificate User otherwise. */
const certificatesOfficerOnlyWhenRenewing: Check = (m) => {
  const problems: string[] = [];
  const assignments = roleAssignments(m);
  const officers = assignments.filter((a) => a.roles.includes(CERTIFICATES_OFFICER));
  const users = assignments.filter((a) => a.roles.includes(CERTIFICATE_USER));
  const setting = at(appSettingsOf(m)[0]?.value, "RENEW_ON_NEAR_EXPIRY");
  const settingRoots = rootParams(m, m.main, identifiers(setting));
  if (settingRoots.size !== 1)
    problems.push("RENEW_ON_NEAR_EXPIRY must come from one parameter of main.bicep.");
  const conditionRoots = (a: RoleAssignment, negated: boolean): Set<string> | undefined => {
    const c = (a.resource.condition ?? []).map((t) => t.value);
    const name = negated
      ? c[0] === "!" && c.length === 2
        ? c[1]
        : undefined
      : c.length === 1
        ? c[0]
        : undefined;
    return name === undefined ? undefined : rootParams(m, a.file, new Set([name]));
  };
  const same = (a?: Set<string>) =>
    a !== undefined && a.size === 1 && [...a].every((x) => settingRoots.has(x));
  for (const a of officers)
    if (!same(conditionRoots(a, false)))
      problems.push(
        `${where(a.file, a.resource)} grants Key Vault Certificates Officer without being conditional on the parameter behind RENEW_ON_NEAR_EXPIRY.`,
      );
  for (const a of users)
    if (!same(conditionRoots(a, true)))
      problems.push(
        `${where(a.file, a.resource)} grants Key Vault Certificate User without being conditional on RENEW_ON_NEAR_EXPIRY being off.`,
      );
  if (officers.length === 0 || users.length === 0)
    problems.push(
      "Both the renewing (Certificates Officer) and the read-only (Certificate User) grants must exist.",
    );
  return problems;
};

/** The Front Door and API Management identities get Key Vault Secrets User on each vault. */
const hopIdentitiesReadVaultSecrets: Check = (m) => {
  const loops = roleAssignments(m).filter((a) => a.roles.includes(SECRETS_USER) && a.resource.loop);
  const roots = new Set(
    loops.flatMap((a) => {
      const header = a.resource.loop ?? [];
      const inIndex = header.findIndex((t) => t.value === "in");
      return [...rootParams(m, a.file, identifiers(header.slice(inIndex + 1)))];
    }),
  );
  return ["frontDoorPrincipalIds", "apimPrincipalIds"]
    .filter((p) => !roots.has(p))
    .map((p) => `No Key Vault Secrets User assignment on the vault covers the identities in ${p}.`);
};

/** The AKS writer role covers exactly the namespaces the app scans (KUBERNETES_NAMESPACES), no others. */
const aksWriterOnScannedNamespaces: Check = (m) => {
  const setting = at(appSettingsOf(m)[0]?.value, "KUBERNETES_NAMESPACES");
  const settingRoots = rootParams(m, m.main, identifiers(setting));
  const writers = roleAssignments(m).filter((a) => a.roles.includes("a7ffa36f-339b-4b5c-8bdf-e2c188b2c0eb"));
  return writers.flatMap((a) => {
    const scope = a.file.resources.find((r) => r.symbol === a.scopeSymbol);
    const header = scope?.loop ?? [];
    const inIndex = header.findIndex((t) => t.value === "in");
    const roots = rootParams(m, a.file, identifiers(header.slice(inIndex + 1)));
    const same = roots.size > 0 && settingRoots.size > 0 && [...roots].every((r) => settingRoots.has(r));
    return same
      ? []
      : [
          `${where(a.file, a.resource)} must be scoped to the namespaces listed in KUBERNETES_NAMESPACES (and only those).`,
        ];
  });
};

/** The Function App accepts HTTPS only. */
const httpsOnly: Check = (m) =>
  sites(m)
    .filter(({ resource }) => literal(at(resource.body, "properties.httpsOnly")) !== true)
    .map(({ file, resource }) => `${where(file, resource)} must set properties.httpsOnly to true.`);

/** TLS 1.2 at least, on the app (and its SCM site) and on storage. */
const tlsMinimum12: Check = (m) => [
  ...sites(m).flatMap(({ file, resource }) =>
    ["minTlsVersion", "scmMinTlsVersion"]
      .filter((k) => literal(at(resource.body, `properties.siteConfig.${k}`)) !== "1.2")
      .map((k) => `${where(file, resource)} must set siteConfig.${k} to '1.2'.`),
  ),
  ...resourcesOf(m, "Microsoft.Storage/storageAccounts", { existing: false })
    .filter(({ resource }) => literal(at(resource.body, "properties.minimumTlsVersion")) !== "TLS1_2")
    .map(({ file, resource }) => `${where(file, resource)} must set minimumTlsVersion to 'TLS1_2'.`),
];

/** No FTP, and no basic-auth publishing credentials (FTP or SCM). */
const ftpAndBasicAuthOff: Check = (m) => {
  const problems = sites(m)
    .filter(({ resource }) => literal(at(resource.body, "properties.siteConfig.ftpsState")) !== "Disabled")
    .map(({ file, resource }) => `${where(file, resource)} must set siteConfig.ftpsState to 'Disabled'.`);
  const policies = resourcesOf(m, "Microsoft.Web/sites/basicPublishingCredentialsPolicies", {
    existing: false,
  });
  for (const name of ["ftp", "scm"]) {
    const policy = policies.find(({ resource }) => literal(at(resource.body, "name")) === name);
    if (!policy)
      problems.push(`No basicPublishingCredentialsPolicies '${name}' turns basic authentication off.`);
    else if (literal(at(policy.resource.body, "properties.allow")) !== false)
      problems.push(`${where(policy.file, policy.resource)} must set allow to false.`);
  }
  return problems;
};

/** Storage is reached with Entra ID only: no shared keys, no key in any setting or template. */
const noStorageKeys: Check = (m) => {
  const problems = resourcesOf(m, "Microsoft.Storage/storageAccounts", { existing: false })
    .filter(({ resource }) => literal(at(resource.body, "properties.allowSharedKeyAccess")) !== false)
    .map(({ file, resource }) => `${where(file, resource)} must set allowSharedKeyAccess to false.`);
  for (const file of m.files) {
    if (file.tokens.some((t) => t.kind === "ident" && /^list(Keys|AccountSas|ServiceSas)$/i.test(t.value)))
      problems.push(`${file.path} reads storage keys or SAS (listKeys / listAccountSas / listServiceSas).`);
    if (file.tokens.some((t) => t.kind === "string" && /AccountKey=|SharedAccessSignature=/i.test(t.value)))
      problems.push(`${file.path} builds a connection string with a key.`);
  }
  for (const { file, resource } of sites(m)) {
    const auth = literal(
      at(resource.body, "properties.functionAppConfig.deployment.storage.authentication.type"),
    );
    if (auth !== "UserAssignedIdentity")
      problems.push(
        `${where(file, resource)} must read its deployment package with the user-assigned identity.`,
      );
  }
  for (const { file, value } of appSettingsOf(m)) {
    if (value?.kind !== "object") continue;
    if (value.entries.some((e) => e.key === "AzureWebJobsStorage"))
      problems.push(
        `${file.path}: AzureWebJobsStorage must be an identity-based connection, not a connection string.`,
      );
    if (literal(at(value, "AzureWebJobsStorage__credential")) !== "managedidentity")
      problems.push(`${file.path}: AzureWebJobsStorage__credential must be 'managedidentity'.`);
  }
  return problems;
};

/** Flex Consumption, Node.js 22, one user-assigned identity, VNet-integrated. */
const flexConsumptionNode22: Check = (m) => {
  const problems: string[] = [];
  const plans = resourcesOf(m, "Microsoft.Web/serverfarms", { existing: false });
  if (!plans.some(({ resource }) => literal(at(resource.body, "sku.name")) === "FC1"))
    problems.push("No Flex Consumption (FC1) plan is declared.");
  for (const { file, resource } of sites(m)) {
    const w = where(file, resource);
    if (literal(at(resource.body, "properties.functionAppConfig.runtime.name")) !== "node")
      problems.push(`${w} must run the 'node' runtime.`);
    if (literal(at(resource.body, "properties.functionAppConfig.runtime.version")) !== "22")
      problems.push(`${w} must run Node.js '22'.`);
    if (literal(at(resource.body, "identity.type")) !== "UserAssigned")
      problems.push(`${w} must use its user-assigned identity only.`);
    const subnet = at(resource.body, "properties.virtualNetworkSubnetId");
    if (!subnet || text(subnet) === "''" || text(subnet) === "null")
      problems.push(`${w} must be integrated into a virtual network (virtualNetworkSubnetId).`);
  }
  if (sites(m).length === 0) problems.push("No Function App is declared.");
  return problems;
};

const eventSubscriptions = (m: InfraModel) =>
  resourcesOf(m, "Microsoft.EventGrid/systemTopics/eventSubscriptions", { existing: false });

/** Key Vault events reach keyVaultEvents filtered to exactly the three certificate event types. */
const eventFilterIsTheThreeCertificateTypes: Check = (m) => {
  const subs = eventSubscriptions(m);
  if (subs.length === 0) return ["No Event Grid subscription delivers Key Vault events."];
  return subs.flatMap(({ file, resource }) => {
    const w = where(file, resource);
    const problems: string[] = [];
    const types = at(resource.body, "properties.filter.includedEventTypes");
    const listed = types?.kind === "array" ? types.items.map(literal) : [];
    const expected = [...CERTIFICATE_EVENT_TYPES].sort();
    if (JSON.stringify([...listed].sort()) !== JSON.stringify(expected))
      problems.push(
        `${w} must include exactly the event types ${expected.join(", ")}; it lists ${text(types)}.`,
      );
    const destination = at(resource.body, "properties.destination");
    const target = text(at(destination, "properties.resourceId"));
    if (
      literal(at(destination, "endpointType")) !== "AzureFunction" ||
      !/\/functions\/keyVaultEvents'$/.test(target)
    )
      problems.push(`${w} must deliver to the keyVaultEvents function.`);
    return problems;
  });
};

/** Retries, then dead-letters to blob storage with an identity; an alert fires on any dead letter. */
const deadLettering: Check = (m) => {
  const problems = eventSubscriptions(m).flatMap(({ file, resource }) => {
    const w = where(file, resource);
    const out: string[] = [];
    const retry = at(resource.body, "properties.retryPolicy");
    if (
      typeof literal(at(retry, "maxDeliveryAttempts")) !== "number" ||
      typeof literal(at(retry, "eventTimeToLiveInMinutes")) !== "number"
    )
      out.push(`${w} must set a retry policy (maxDeliveryAttempts and eventTimeToLiveInMinutes).`);
    const deadLetter = at(resource.body, "properties.deadLetterWithResourceIdentity");
    if (
      literal(at(deadLetter, "deadLetterDestination.endpointType")) !== "StorageBlob" ||
      !at(deadLetter, "deadLetterDestination.properties.blobContainerName") ||
      !at(deadLetter, "identity.type")
    )
      out.push(
        `${w} must dead-letter to a blob container with a managed identity (deadLetterWithResourceIdentity).`,
      );
    return out;
  });
  const alerts = resourcesOf(m, "Microsoft.Insights/metricAlerts", { existing: false }).filter(
    ({ resource }) => {
      const criteria = at(resource.body, "properties.criteria.allOf");
      return (
        criteria?.kind === "array" &&
        criteria.items.some((c) => literal(at(c, "metricName")) === "DeadLetteredCount") &&
        literal(at(resource.body, "properties.enabled")) !== false
      );
    },
  );
  if (alerts.length === 0) problems.push("No enabled metric alert watches DeadLetteredCount.");
  return problems;
};

/** Outcome events go to a CloudEvents custom topic that accepts no keys. */
const outcomeTopicCloudEventsNoKeys: Check = (m) => {
  const topics = resourcesOf(m, "Microsoft.EventGrid/topics", { existing: false });
  if (topics.length === 0) return ["No custom topic for outcome events is declared."];
  return topics.flatMap(({ file, resource }) => [
    ...(literal(at(resource.body, "properties.inputSchema")) === "CloudEventSchemaV1_0"
      ? []
      : [`${where(file, resource)} must accept the CloudEvents schema.`]),
    ...(literal(at(resource.body, "properties.disableLocalAuth")) === true
      ? []
      : [`${where(file, resource)} must disable local (key) authentication.`]),
  ]);
};

/** The app settings are exactly what local.settings.sample.json lists, minus its lab-only settings. */
const appSettingsAreExactlyTheSample: Check = (m) => {
  const found = appSettingsOf(m);
  if (found.length !== 1) return [`Exactly one appsettings resource must exist, found ${found.length}.`];
  const { file, value } = found[0]!;
  if (value?.kind !== "object") return [`${file.path}: the app settings must resolve to one object literal.`];
  const inAzure = new Set(value.entries.map((e) => e.key.split("__")[0]!));
  const expected = new Set(
    Object.keys(m.sample.Values).filter(
      (k) => !m.sample._localOnly.includes(k) && k !== "FUNCTIONS_WORKER_RUNTIME",
    ),
  );
  const problems = [
    ...[...expected]
      .filter((k) => !inAzure.has(k))
      .map((k) => `App setting ${k} is listed in the sample but not set in Azure.`),
    ...[...inAzure]
      .filter((k) => !expected.has(k))
      .map((k) =>
        m.sample._localOnly.includes(k)
          ? `App setting ${k} is lab-only and must not be set in Azure.`
          : k === "FUNCTIONS_WORKER_RUNTIME"
            ? "FUNCTIONS_WORKER_RUNTIME must not be an app setting on Flex Consumption (functionAppConfig.runtime carries it)."
            : `App setting ${k} is set in Azure but not listed in local.settings.sample.json.`,
      ),
  ];
  for (const e of value.entries)
    if (e.value.kind === "expr" && e.value.tokens.length === 0)
      problems.push(`App setting ${e.key} has no value.`);
  return problems;
};

/** local.settings.sample.json lists and describes exactly the settings the code reads. */
const settingsAgreeWithConfig: Check = (m) => {
  const values = Object.keys(m.sample.Values);
  const host: readonly string[] = HOST_SETTINGS;
  const described = Object.keys(m.sample._descriptions);
  return [
    ...m.configSettings
      .filter((k) => !values.includes(k))
      .map((k) => `Setting ${k} is read by src/config.ts but missing from local.settings.sample.json.`),
    ...values
      .filter((k) => !m.configSettings.includes(k) && !host.includes(k))
      .map((k) => `Setting ${k} in local.settings.sample.json is read by nothing.`),
    ...values.filter((k) => !described.includes(k)).map((k) => `Setting ${k} has no entry in _descriptions.`),
    ...described
      .filter((k) => !values.includes(k))
      .map((k) => `_descriptions explains ${k}, which is not a setting.`),
    ...m.configLocalOnly
      .filter((k) => !m.sample._localOnly.includes(k))
      .map((k) => `Setting ${k} is lab-only in src/config.ts but not in the sample's _localOnly.`),
    ...m.sample._localOnly
      .filter((k) => !m.configLocalOnly.includes(k))
      .map((k) => `_localOnly lists ${k}, which src/config.ts does not treat as lab-only.`),
  ];
};

/** Every invariant, by name. */
export const CHECKS = {
  roleAssignmentsUseKnownRolesOnExactScopes,
  everyRoleIsGranted,
  certificatesOfficerOnlyWhenRenewing,
  hopIdentitiesReadVaultSecrets,
  aksWriterOnScannedNamespaces,
  httpsOnly,
  tlsMinimum12,
  ftpAndBasicAuthOff,
  noStorageKeys,
  flexConsumptionNode22,
  eventFilterIsTheThreeCertificateTypes,
  deadLettering,
  outcomeTopicCloudEventsNoKeys,
  appSettingsAreExactlyTheSample,
  settingsAgreeWithConfig,
} satisfies Record<string, Check>;

export type CheckName = keyof typeof CHECKS;

/** Runs every check; the result maps each failing check to its problems. */
export function checkInfra(sources: InfraSources): Partial<Record<CheckName, string[]>> {
  const model = buildModel(sources);
  const failures: Partial<Record<CheckName, string[]>> = {};
  for (const [name, check] of Object.entries(CHECKS) as [CheckName, Check][]) {
    const problems = check(model);
    if (problems.length > 0) failures[name] = problems;
  }
  return failures;
}

/** The repository root (the folder holding package.json), found from this file's location. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string };
      if (pkg.name === "e2e-cert-rotation") return dir;
    } catch {
      // not here
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error("repository root not found");
    dir = parent;
  }
}

/** Reads infra/*.bicep and infra/modules/*.bicep and local.settings.sample.json from the repository. */
export function readInfraFiles(root = repoRoot()): Pick<InfraSources, "bicep" | "sampleSettings"> {
  const bicep: Record<string, string> = {};
  for (const dir of ["infra", "infra/modules"])
    for (const name of readdirSync(join(root, dir)).filter((n) => n.endsWith(".bicep")))
      bicep[`${dir}/${name}`] = readFileSync(join(root, dir, name), "utf8");
  return { bicep, sampleSettings: readFileSync(join(root, "local.settings.sample.json"), "utf8") };
}
