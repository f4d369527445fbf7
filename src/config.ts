/**
 * The control plane's configuration: every app setting it reads, parsed once at start into one
 * validated, typed {@link Config}. A missing or malformed setting stops the app with a
 * {@link ConfigurationError} whose message is a sentence naming the setting (and its value, unless
 * the setting is a secret).
 *
 * The setting names here are the contract with `local.settings.sample.json` (each one is listed
 * there with a description) and with `infra/` (each one is set in the Function App's app settings,
 * except the lab-only ones, which must never reach Azure). `test/unit/infra` checks all three agree.
 */
import { z } from "zod";
import { STAGES, type Stage } from "./domain/bindings.js";
import { parseWriteTarget, type WritePolicy, type WriteTarget } from "./domain/writePolicy.js";
import { ConfigurationError } from "./errors.js";

/** An ARM scope to discover Front Door profiles or APIM services in. */
export interface ArmScope {
  /** The scope as configured, e.g. `/subscriptions/…/resourceGroups/rg-edge`. */
  id: string;
  subscriptionId: string;
  /** Absent when the scope is a whole subscription. */
  resourceGroup?: string;
  /** Present when the scope is one resource (a profile or a service): discovery reads just that one. */
  resourceName?: string;
}

/** An AKS cluster to scan, from its ARM id. */
export interface AksCluster {
  id: string;
  subscriptionId: string;
  resourceGroup: string;
  name: string;
}

/** Where a probe for a host name really connects (lab only: host names resolve to loopback ports). */
export interface ProbeAddress {
  address: string;
  port: number;
}

/**
 * How to reach the storage account of the audit table, resolved the way the Functions host resolves
 * a `connection` name: the setting itself holds a connection string, or `<name>__tableServiceUri` /
 * `<name>__accountName` describe an identity-based connection.
 */
export type StorageConnection =
  | { kind: "connectionString"; connectionString: string }
  | { kind: "identity"; tableServiceUri: string; clientId?: string };

/** The whole configuration. Each field's doc names its setting and states its default. */
export interface Config {
  /**
   * `ALLOWED_VAULT_URLS` (required): the vaults whose certificates we rotate, as normalised origins
   * (`https://kv-prod.vault.azure.net`). Events from any other vault are rejected.
   */
  allowedVaultUrls: readonly string[];
  discovery: {
    /** `FRONT_DOOR_SCOPES`, default none: where to look for Front Door profiles. */
    frontDoorScopes: readonly ArmScope[];
    /** `APIM_SCOPES`, default none: where to look for API Management services. */
    apimScopes: readonly ArmScope[];
    /** `AKS_CLUSTER_IDS`, default none: the clusters whose Secrets and Ingresses we scan. */
    aksClusters: readonly AksCluster[];
    /** `KUBERNETES_NAMESPACES`, required when clusters are listed: the namespaces scanned in each. */
    kubernetesNamespaces: readonly string[];
    /** `KUBERNETES_KUBECONFIG` (lab only), default unset: reach clusters through this kubeconfig. */
    kubeconfigPath?: string;
    /** `BINDINGS_FILE`, default unset: an explicit bindings file added to what discovery finds. */
    bindingsFile?: string;
    /**
     * `WRITE_POLICY`, default none: where each vault's (or certificate's) certificates may be
     * written, e.g. `kv-prod=aks-prod/api|apim:apim-prod, kv-prod/partner=aks-prod/partner`. Without
     * a rule, a private key goes only to Secrets the bindings file names (see domain/writePolicy.ts).
     */
    writePolicy: WritePolicy;
  };
  arm: {
    /** `ARM_ENDPOINT`, default `https://management.azure.com`. */
    endpoint: string;
    /** `ARM_AUDIENCE`, default the endpoint. */
    audience: string;
    /** The token scope derived from the audience (`<audience>/.default`). */
    scope: string;
  };
  keyVault: {
    /** `KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION` (lab only), default false. */
    disableChallengeResourceVerification: boolean;
  };
  outcomeTopic: {
    /** `OUTCOME_TOPIC_ENDPOINT` (required): the Event Grid topic that receives outcome CloudEvents. */
    endpoint: string;
    /** `OUTCOME_TOPIC_KEY` (lab only, secret), default unset: use the managed identity. */
    key?: string;
  };
  audit: {
    /** `AUDIT_TABLE_NAME`, default `RolloutAudit`. */
    tableName: string;
    /** `AUDIT_STORAGE_CONNECTION`, default `AzureWebJobsStorage`: the connection name, resolved. */
    connectionName: string;
    connection: StorageConnection;
  };
  drift: {
    /** `DRIFT_SCHEDULE`, default `0 0 0,6,12,18 * * *` (NCRONTAB, six fields: every six hours). */
    schedule: string;
    /** `DRIFT_JITTER_SECONDS`, default 300: a random delay of up to this before each scan. */
    jitterSeconds: number;
    /** `DRIFT_MODE`, default `repair`: `repair` starts rollouts; `report` only logs and records. */
    mode: "repair" | "report";
  };
  probes: {
    /** `PROBE_INTERVAL_SECONDS`, default 15: time between two probes of a stage's endpoints. */
    intervalSeconds: number;
    /**
     * `PROBE_DEADLINE_KUBERNETES_SECONDS` (default 300), `PROBE_DEADLINE_APIM_SECONDS` (default
     * 3600: an APIM custom-domain update is documented to take "15 minutes or longer"),
     * `PROBE_DEADLINE_FRONT_DOOR_SECONDS` (default 86400: Front Door certificate changes are
     * documented to take up to 24 hours to reach every edge): how long a stage may take to serve the
     * new certificate before the rollout rolls back.
     */
    deadlineSeconds: Readonly<Record<Stage, number>>;
    /**
     * `PROBE_HOST_OVERRIDES` (lab only), default none: host name → the addresses and ports to connect
     * to (several when the host is served from several places, like Front Door edge locations; every
     * one must serve the expected certificate). The lab's stand-in for DNS: also resolves probe
     * addresses given as host names. A binding's file `probeAddresses` win over it; it wins over
     * discovered addresses (see `probeTargetsOf` in activities/probeEndpoints).
     */
    hostOverrides: ReadonlyMap<string, readonly ProbeAddress[]>;
    /**
     * `PROBE_END_TO_END_PATH`, default `/`: the path of the request sent through the whole chain to
     * the plan's outermost hosts (pick one your API answers without credentials, e.g. a health path).
     */
    endToEndPath: string;
    /**
     * `PROBE_END_TO_END_REQUIRE_2XX`, default false: the end-to-end request passes on any answer
     * below 500 (a 401 or 404 still proves every TLS hop carried it); true demands a 2xx.
     */
    endToEndRequire2xx: boolean;
    /**
     * `PROBE_END_TO_END_HOSTS`, default none: the API's public host names (the entry of the chain,
     * e.g. the Front Door custom domains clients use). The end-to-end request of a rollout goes
     * through them, so rotating an inner hop is proven through the whole chain (APIM validating the
     * ingress, the ingress validating APIM's client certificate). Without it, the plan's outermost
     * hosts are requested directly.
     */
    endToEndHosts: readonly string[];
  };
  rollout: {
    /** `STAGE_ORDER`, default `kubernetes,apim,frontDoor` (inner to outer). */
    stageOrder: readonly Stage[];
    /** `PREFLIGHT_MIN_VALIDITY_DAYS`, default 30: a new version must stay valid at least this long. */
    minRemainingValidityDays: number;
    /** `RENEW_ON_NEAR_EXPIRY`, default true: renew in Key Vault when the issuer allows it. */
    renewOnNearExpiry: boolean;
    /** `RENEWAL_DEADLINE_SECONDS`, default 86400: how long to wait for a renewed version. */
    renewalDeadlineSeconds: number;
    /** `ROLLOUT_RESTART_DEPLOYMENTS`, default false: restart the Deployments a binding names. */
    restartDeployments: boolean;
    /**
     * `WAIT_ROUNDS_PER_EXECUTION`, default 20: rounds a waiting sub-orchestration (probes,
     * provisioning, a change queued for an APIM service) runs before it continues as new, which
     * bounds each history (fewer: shorter histories, more executions).
     */
    waitRoundsPerExecution: number;
  };
  identity: {
    /** `AZURE_CLIENT_ID`, default unset: the user-assigned managed identity's client id. */
    clientId?: string;
  };
  trust: {
    /** `TRUSTED_CA_BUNDLE_PATH`, default unset: extra PEM roots trusted for chain validation. */
    caBundlePath?: string;
  };
  /** `TIME_SCALE` (lab only), default 1: the control plane's own durations are divided by it. */
  timeScale: number;
}

// ---- setting parsers ------------------------------------------------------------------------------

/** Empty and whitespace-only values count as unset, as an empty app setting does in Azure. */
const blankToUndefined = (v: unknown): unknown =>
  typeof v === "string" && v.trim() === "" ? undefined : typeof v === "string" ? v.trim() : v;

const optionalText = z.preprocess(blankToUndefined, z.string().optional());

const list = <T>(item: z.ZodType<T>) =>
  z.preprocess(
    (v) =>
      typeof v === "string"
        ? v
            .split(",")
            .map((s) => s.trim())
            .filter((s) => s !== "")
        : [],
    z.array(item),
  );

const boolean = (defaultValue: boolean) =>
  z.preprocess(
    (v) => {
      const s = blankToUndefined(v);
      if (s === undefined) return defaultValue;
      const t =
        typeof s === "string" || typeof s === "number" || typeof s === "boolean"
          ? String(s).toLowerCase()
          : "";
      if (["true", "1", "yes"].includes(t)) return true;
      if (["false", "0", "no"].includes(t)) return false;
      return s;
    },
    z.boolean({ error: "must be true or false" }),
  );

const number = (defaultValue: number, bounds: { min: number; max?: number; int?: boolean }) => {
  let schema = z.number({ error: "must be a number" });
  if (bounds.int) schema = schema.int({ error: "must be a whole number" });
  schema = schema.min(bounds.min, { error: `must be at least ${bounds.min}` });
  if (bounds.max !== undefined) schema = schema.max(bounds.max, { error: `must be at most ${bounds.max}` });
  return z.preprocess((v) => {
    const s = blankToUndefined(v);
    if (s === undefined) return defaultValue;
    const n = Number(s);
    return Number.isNaN(n) ? s : n;
  }, schema);
};

const text = (defaultValue: string) => z.preprocess((v) => blankToUndefined(v) ?? defaultValue, z.string());

const httpsOrigin = z.string().transform((s, ctx) => {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    ctx.addIssue({ code: "custom", message: `must be a list of https URLs; '${s}' is not a URL` });
    return z.NEVER;
  }
  if (url.protocol !== "https:") {
    ctx.addIssue({ code: "custom", message: `must be a list of https URLs; '${s}' is not https` });
    return z.NEVER;
  }
  if (url.pathname !== "/" || url.search !== "" || url.hash !== "") {
    ctx.addIssue({ code: "custom", message: `must list vault URLs without a path; '${s}' has one` });
    return z.NEVER;
  }
  return url.origin.toLowerCase();
});

const httpsUrl = (what: string) =>
  z.string().refine(
    (s) => {
      try {
        return new URL(s).protocol === "https:";
      } catch {
        return false;
      }
    },
    { error: `must be the https URL of ${what}` },
  );

const SUBSCRIPTION = "/subscriptions/([^/]+)";
const RESOURCE_GROUP = "/resourceGroups/([^/]+)";

const armScope = (provider: string, what: string) => {
  const pattern = new RegExp(
    `^${SUBSCRIPTION}(?:${RESOURCE_GROUP}(?:/providers/${provider}/([^/]+))?)?/?$`,
    "i",
  );
  return z.string().transform((s, ctx): ArmScope => {
    const m = pattern.exec(s);
    if (!m) {
      ctx.addIssue({
        code: "custom",
        message: `must list ARM scopes (a subscription, a resource group or a ${what} id); '${s}' is none of them`,
      });
      return z.NEVER;
    }
    const scope: ArmScope = { id: s.replace(/\/$/, ""), subscriptionId: m[1]! };
    if (m[2]) scope.resourceGroup = m[2];
    if (m[3]) scope.resourceName = m[3];
    return scope;
  });
};

const aksClusterId = z.string().transform((s, ctx): AksCluster => {
  const m = new RegExp(
    `^${SUBSCRIPTION}${RESOURCE_GROUP}/providers/Microsoft\\.ContainerService/managedClusters/([^/]+)$`,
    "i",
  ).exec(s);
  if (!m) {
    ctx.addIssue({ code: "custom", message: `must list AKS cluster resource ids; '${s}' is not one` });
    return z.NEVER;
  }
  return { id: s, subscriptionId: m[1]!, resourceGroup: m[2]!, name: m[3]! };
});

const namespace = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, {
  error: "must list Kubernetes namespace names (DNS labels)",
});

/** NCRONTAB as Azure Functions timers take it: second minute hour day month day-of-week. */
const NCRONTAB_FIELDS: readonly { min: number; max: number; names?: readonly string[] }[] = [
  { min: 0, max: 59 },
  { min: 0, max: 59 },
  { min: 0, max: 23 },
  { min: 1, max: 31 },
  {
    min: 1,
    max: 12,
    names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
  },
  { min: 0, max: 6, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] },
];

/** True when `expr` is a six-field NCRONTAB expression whose every value is in range. */
export function isNcrontab(expr: string): boolean {
  const fields = expr.trim().split(/\s+/);
  if (fields.length !== 6) return false;
  return fields.every((field, i) => {
    const spec = NCRONTAB_FIELDS[i]!;
    const value = (token: string): number | undefined => {
      const byName = spec.names?.indexOf(token.toUpperCase()) ?? -1;
      if (byName >= 0) return spec.min + byName;
      if (!/^\d+$/.test(token)) return undefined;
      const n = Number(token);
      return n >= spec.min && n <= spec.max ? n : undefined;
    };
    return field.split(",").every((item) => {
      const [range, step, extra] = item.split("/");
      if (extra !== undefined || range === undefined || range === "") return false;
      if (step !== undefined && !(/^\d+$/.test(step) && Number(step) >= 1)) return false;
      if (range === "*") return true;
      const [from, to, more] = range.split("-");
      if (more !== undefined) return false;
      const a = value(from ?? "");
      if (a === undefined) return false;
      if (to === undefined) return true;
      const b = value(to);
      return b !== undefined && a <= b;
    });
  });
}

const stageOrder = z.preprocess(
  (v) =>
    (typeof blankToUndefined(v) === "string" ? String(v) : STAGES.join(","))
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== ""),
  z
    .array(z.enum(STAGES, { error: `must list the stages ${STAGES.join(", ")}` }))
    .refine((a) => a.length === STAGES.length && new Set(a).size === STAGES.length, {
      error: `must name each of ${STAGES.join(", ")} exactly once`,
    }),
);

const hostOverrides = z.preprocess(
  (v) => blankToUndefined(v) ?? "",
  z.string().transform((s, ctx) => {
    const map = new Map<string, ProbeAddress[]>();
    for (const entry of s
      .split(",")
      .map((e) => e.trim())
      .filter((e) => e !== "")) {
      const eq = entry.indexOf("=");
      const host = eq > 0 ? entry.slice(0, eq) : "";
      const targets = eq > 0 ? entry.slice(eq + 1).split("|") : [""];
      for (const target of targets) {
        const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(target.trim());
        const port = m ? Number(m[2]) : 0;
        if (!/^[A-Za-z0-9.*-]+$/.test(host) || !m || port < 1 || port > 65535) {
          ctx.addIssue({
            code: "custom",
            message: `must list host=address:port pairs (e.g. api.contoso.com=127.0.0.1:8443, several addresses joined by |); '${entry}' is not one`,
          });
          return z.NEVER;
        }
        const key = host.toLowerCase();
        map.set(key, [...(map.get(key) ?? []), { address: m[1]!.replace(/^\[|\]$/g, ""), port }]);
      }
    }
    return map;
  }),
);

const writePolicy = z.preprocess(
  (v) => blankToUndefined(v) ?? "",
  z.string().transform((s, ctx) => {
    const map = new Map<string, WriteTarget[]>();
    for (const entry of s
      .split(",")
      .map((e) => e.trim())
      .filter((e) => e !== "")) {
      const eq = entry.indexOf("=");
      const scope = eq > 0 ? entry.slice(0, eq).trim().toLowerCase() : "";
      const targets = (eq > 0 ? entry.slice(eq + 1).split("|") : [""]).map(parseWriteTarget);
      if (!/^[a-z0-9-]{3,24}(\/[a-z0-9-]{1,127})?$/.test(scope) || targets.some((t) => !t)) {
        ctx.addIssue({
          code: "custom",
          message: `must list vault[/certificate]=target|target rules, each target cluster/namespace, apim:<service> or frontDoor:<profile> (e.g. kv-prod=aks-prod/api|apim:apim-prod); '${entry}' is not one`,
        });
        return z.NEVER;
      }
      map.set(scope, [...(map.get(scope) ?? []), ...(targets as WriteTarget[])]);
    }
    return map;
  }),
);

// ---- the settings --------------------------------------------------------------------------------

interface SettingSpec {
  schema: z.ZodType;
  /** Only for the local lab: must never be set in Azure (infra must not set it). */
  localOnly?: boolean;
  /** Its value never appears in a message. */
  secret?: boolean;
}

/**
 * Every app setting the control plane reads, by name. The order is the order problems are reported.
 * (The storage connection named by `AUDIT_STORAGE_CONNECTION` — `AzureWebJobsStorage` by default — is
 * read too, with the Functions host's own `__accountName` / `__tableServiceUri` conventions.)
 */
const SETTINGS = {
  ALLOWED_VAULT_URLS: {
    schema: list(httpsOrigin).refine((a) => a.length > 0, {
      error: "is required: list the vault URLs to act on",
    }),
  },
  FRONT_DOOR_SCOPES: { schema: list(armScope("Microsoft\\.Cdn/profiles", "Front Door profile")) },
  APIM_SCOPES: { schema: list(armScope("Microsoft\\.ApiManagement/service", "API Management service")) },
  AKS_CLUSTER_IDS: { schema: list(aksClusterId) },
  KUBERNETES_NAMESPACES: { schema: list(namespace) },
  KUBERNETES_KUBECONFIG: { schema: optionalText, localOnly: true },
  BINDINGS_FILE: { schema: optionalText },
  WRITE_POLICY: { schema: writePolicy },
  ARM_ENDPOINT: { schema: text("https://management.azure.com").pipe(httpsUrl("Azure Resource Manager")) },
  ARM_AUDIENCE: { schema: optionalText.pipe(z.union([z.undefined(), httpsUrl("the ARM token audience")])) },
  KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: { schema: boolean(false), localOnly: true },
  OUTCOME_TOPIC_ENDPOINT: {
    schema: optionalText.pipe(
      z
        .string({ error: "is required: set the Event Grid topic endpoint for outcome events" })
        .pipe(httpsUrl("an Event Grid topic")),
    ),
  },
  OUTCOME_TOPIC_KEY: {
    schema: optionalText.pipe(
      z.union([z.undefined(), z.string().regex(/^\S+$/, { error: "must be an access key without spaces" })]),
    ),
    localOnly: true,
    secret: true,
  },
  AUDIT_TABLE_NAME: {
    schema: text("RolloutAudit").pipe(
      z.string().regex(/^[A-Za-z][A-Za-z0-9]{2,62}$/, {
        error: "must be a table name (3 to 63 letters or digits, starting with a letter)",
      }),
    ),
  },
  AUDIT_STORAGE_CONNECTION: {
    schema: text("AzureWebJobsStorage").pipe(
      z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "must be the name of a connection setting" }),
    ),
  },
  DRIFT_SCHEDULE: {
    schema: text("0 0 0,6,12,18 * * *").pipe(
      z.string().refine(isNcrontab, {
        error:
          "must be an NCRONTAB expression with six fields (second minute hour day month day-of-week), e.g. '0 0 0,6,12,18 * * *'",
      }),
    ),
  },
  DRIFT_JITTER_SECONDS: { schema: number(300, { min: 0, max: 3600, int: true }) },
  DRIFT_MODE: {
    schema: text("repair").pipe(z.enum(["repair", "report"], { error: "must be 'repair' or 'report'" })),
  },
  PROBE_INTERVAL_SECONDS: { schema: number(15, { min: 1, max: 3600, int: true }) },
  PROBE_DEADLINE_KUBERNETES_SECONDS: { schema: number(300, { min: 1, int: true }) },
  PROBE_DEADLINE_APIM_SECONDS: { schema: number(3600, { min: 1, int: true }) },
  PROBE_DEADLINE_FRONT_DOOR_SECONDS: { schema: number(86400, { min: 1, int: true }) },
  PROBE_HOST_OVERRIDES: { schema: hostOverrides, localOnly: true },
  PROBE_END_TO_END_PATH: {
    schema: text("/").pipe(
      z.string().regex(/^\/[\x21-\x7e]*$/, {
        error: "must be a request path starting with '/' (no spaces), e.g. /health",
      }),
    ),
  },
  PROBE_END_TO_END_REQUIRE_2XX: { schema: boolean(false) },
  PROBE_END_TO_END_HOSTS: {
    schema: list(
      z
        .string()
        .regex(/^(?=.{1,253}$)([a-z0-9-]{1,63}\.)*[a-z0-9-]{1,63}$/i, {
          error: "must be comma-separated DNS host names, e.g. api.contoso.com",
        })
        .transform((h) => h.toLowerCase()),
    ),
  },
  STAGE_ORDER: { schema: stageOrder },
  PREFLIGHT_MIN_VALIDITY_DAYS: { schema: number(30, { min: 0, max: 3650, int: true }) },
  RENEW_ON_NEAR_EXPIRY: { schema: boolean(true) },
  RENEWAL_DEADLINE_SECONDS: { schema: number(86400, { min: 1, int: true }) },
  ROLLOUT_RESTART_DEPLOYMENTS: { schema: boolean(false) },
  WAIT_ROUNDS_PER_EXECUTION: { schema: number(20, { min: 2, max: 1000, int: true }) },
  AZURE_CLIENT_ID: {
    schema: optionalText.pipe(
      z.union([z.undefined(), z.uuid({ error: "must be the client id (a GUID) of the managed identity" })]),
    ),
  },
  TRUSTED_CA_BUNDLE_PATH: { schema: optionalText },
  TIME_SCALE: { schema: number(1, { min: 1 }), localOnly: true },
} satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof SETTINGS;

/** The names of every setting {@link loadConfig} reads directly, in report order. */
export const SETTING_NAMES = Object.keys(SETTINGS) as readonly SettingName[];

/** The settings that exist only for the local lab and must never be set in Azure. */
export const LOCAL_ONLY_SETTINGS: readonly SettingName[] = SETTING_NAMES.filter(
  (name) => (SETTINGS[name] as SettingSpec).localOnly === true,
);

/** The parsed value of every setting, by name. */
export type SettingValues = { [K in SettingName]: z.output<(typeof SETTINGS)[K]["schema"]> };

function describeProblem(name: string, raw: string | undefined, message: string, secret: boolean): string {
  const quoted = raw === undefined || raw.trim() === "" || message.includes(`'${raw.trim()}'`);
  const shown = secret || quoted ? "" : ` (got '${raw}')`;
  return `App setting ${name} ${message}${shown}.`;
}

/** A problem with one setting: the setting and the sentence that names it. */
interface Problem {
  setting: string;
  sentence: string;
}

/** Parses each setting on its own; the ones that fail give a problem each, in {@link SETTING_NAMES} order. */
function parseSettings(env: Record<string, string | undefined>): {
  parsed: SettingValues;
  problems: Problem[];
} {
  const problems: Problem[] = [];
  const parsed: Partial<Record<SettingName, unknown>> = {};
  for (const name of SETTING_NAMES) {
    const spec: SettingSpec = SETTINGS[name];
    const result = spec.schema.safeParse(env[name]);
    if (result.success) parsed[name] = result.data;
    else {
      const message = result.error.issues[0]?.message ?? "is not valid";
      problems.push({
        setting: name,
        sentence: describeProblem(name, env[name], message, spec.secret === true),
      });
    }
  }
  // Fields of failed settings stay undefined; the caller throws before it reads them.
  return { parsed: parsed as SettingValues, problems };
}

/** Rules across settings, and the audit storage connection (its name is itself a setting). */
function checkAcross(
  p: SettingValues,
  env: Record<string, string | undefined>,
): { connection?: StorageConnection; problems: Problem[] } {
  const problems: Problem[] = [];
  if (p.AKS_CLUSTER_IDS?.length && p.KUBERNETES_NAMESPACES?.length === 0) {
    problems.push({
      setting: "KUBERNETES_NAMESPACES",
      sentence:
        "App setting KUBERNETES_NAMESPACES is required when AKS_CLUSTER_IDS lists clusters: name the namespaces to scan.",
    });
  }
  if (p.AUDIT_STORAGE_CONNECTION === undefined) return { problems };
  const connection = resolveStorageConnection(p.AUDIT_STORAGE_CONNECTION, env, p.AZURE_CLIENT_ID);
  if (connection === undefined) {
    const n = p.AUDIT_STORAGE_CONNECTION;
    problems.push({
      setting: n,
      sentence: `App setting ${n} (or ${n}__accountName or ${n}__tableServiceUri) is required for the audit table: set a connection string or an identity-based connection.`,
    });
  }
  return connection === undefined ? { problems } : { connection, problems };
}

/** The typed configuration from settings that all parsed. */
function assemble(p: SettingValues, connection: StorageConnection): Config {
  const armEndpoint = p.ARM_ENDPOINT.replace(/\/+$/, "");
  const armAudience = (p.ARM_AUDIENCE ?? armEndpoint).replace(/\/+$/, "");
  const config: Config = {
    allowedVaultUrls: p.ALLOWED_VAULT_URLS,
    discovery: {
      frontDoorScopes: p.FRONT_DOOR_SCOPES,
      apimScopes: p.APIM_SCOPES,
      aksClusters: p.AKS_CLUSTER_IDS,
      kubernetesNamespaces: p.KUBERNETES_NAMESPACES,
      writePolicy: p.WRITE_POLICY,
    },
    arm: { endpoint: armEndpoint, audience: armAudience, scope: `${armAudience}/.default` },
    keyVault: { disableChallengeResourceVerification: p.KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION },
    outcomeTopic: { endpoint: p.OUTCOME_TOPIC_ENDPOINT },
    audit: { tableName: p.AUDIT_TABLE_NAME, connectionName: p.AUDIT_STORAGE_CONNECTION, connection },
    drift: { schedule: p.DRIFT_SCHEDULE, jitterSeconds: p.DRIFT_JITTER_SECONDS, mode: p.DRIFT_MODE },
    probes: {
      intervalSeconds: p.PROBE_INTERVAL_SECONDS,
      deadlineSeconds: {
        kubernetes: p.PROBE_DEADLINE_KUBERNETES_SECONDS,
        apim: p.PROBE_DEADLINE_APIM_SECONDS,
        frontDoor: p.PROBE_DEADLINE_FRONT_DOOR_SECONDS,
      },
      hostOverrides: p.PROBE_HOST_OVERRIDES,
      endToEndPath: p.PROBE_END_TO_END_PATH,
      endToEndRequire2xx: p.PROBE_END_TO_END_REQUIRE_2XX,
      endToEndHosts: p.PROBE_END_TO_END_HOSTS,
    },
    rollout: {
      stageOrder: p.STAGE_ORDER,
      minRemainingValidityDays: p.PREFLIGHT_MIN_VALIDITY_DAYS,
      renewOnNearExpiry: p.RENEW_ON_NEAR_EXPIRY,
      renewalDeadlineSeconds: p.RENEWAL_DEADLINE_SECONDS,
      restartDeployments: p.ROLLOUT_RESTART_DEPLOYMENTS,
      waitRoundsPerExecution: p.WAIT_ROUNDS_PER_EXECUTION,
    },
    identity: {},
    trust: {},
    timeScale: p.TIME_SCALE,
  };
  if (p.KUBERNETES_KUBECONFIG !== undefined) config.discovery.kubeconfigPath = p.KUBERNETES_KUBECONFIG;
  if (p.BINDINGS_FILE !== undefined) config.discovery.bindingsFile = p.BINDINGS_FILE;
  if (p.OUTCOME_TOPIC_KEY !== undefined) config.outcomeTopic.key = p.OUTCOME_TOPIC_KEY;
  if (p.AZURE_CLIENT_ID !== undefined) config.identity.clientId = p.AZURE_CLIENT_ID;
  if (p.TRUSTED_CA_BUNDLE_PATH !== undefined) config.trust.caBundlePath = p.TRUSTED_CA_BUNDLE_PATH;
  return config;
}

/**
 * Reads and validates every setting. Throws a {@link ConfigurationError} naming the first bad
 * setting; its message lists every problem found, one sentence each.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const { parsed, problems } = parseSettings(env);
  const across = checkAcross(parsed, env);
  const all = [...problems, ...across.problems];
  const first = all[0];
  if (first) throw new ConfigurationError(all.map((x) => x.sentence).join(" "), first.setting);
  return assemble(parsed, across.connection!);
}

/**
 * The value a setting takes when it is unset: its default in the settings table, the one source of
 * every default. Throws for a setting that has none (a required one).
 */
export function settingDefault<N extends SettingName>(name: N): SettingValues[N] {
  const result = (SETTINGS[name] as SettingSpec).schema.safeParse(undefined);
  if (!result.success) throw new Error(`App setting ${name} has no default: it is required.`);
  return result.data as SettingValues[N];
}

let loaded: Config | undefined;

/**
 * The app's configuration, read from `process.env` and validated on first use, then cached for the
 * process. The app loads it at start (functions/appStart.ts), so a bad setting stops the app before
 * any trigger runs; everything else (triggers, the composition root) reads it through here. Throws a
 * {@link ConfigurationError} naming the setting.
 */
export function appConfig(): Config {
  loaded ??= loadConfig(process.env);
  return loaded;
}

/** Forgets the cached configuration, so the next {@link appConfig} reads the settings again (app start, tests). */
export function resetAppConfig(): void {
  loaded = undefined;
}

/**
 * Resolves a Functions-style connection name: `<name>` holds a connection string; otherwise
 * `<name>__tableServiceUri` or `<name>__accountName` make an identity-based connection, using
 * `<name>__clientId` or else the app's managed identity client id.
 */
export function resolveStorageConnection(
  name: string,
  env: Record<string, string | undefined>,
  defaultClientId?: string,
): StorageConnection | undefined {
  const get = (key: string): string | undefined => blankToUndefined(env[key]) as string | undefined;
  const connectionString = get(name);
  if (connectionString !== undefined) return { kind: "connectionString", connectionString };
  const tableServiceUri =
    get(`${name}__tableServiceUri`) ??
    (get(`${name}__accountName`) !== undefined
      ? `https://${get(`${name}__accountName`)}.table.core.windows.net`
      : undefined);
  if (tableServiceUri === undefined) return undefined;
  const clientId = get(`${name}__clientId`) ?? defaultClientId;
  return clientId === undefined
    ? { kind: "identity", tableServiceUri }
    : { kind: "identity", tableServiceUri, clientId };
}

/** A duration from configuration, in lab time: real seconds divided by {@link Config.timeScale}. */
export const scaledSeconds = (config: Pick<Config, "timeScale">, seconds: number): number =>
  seconds / config.timeScale;
