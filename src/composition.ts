/**
 * The one composition root: builds every SDK client from the validated configuration, lazily, once
 * per process (per vault, subscription or cluster). It is the only place that knows whether the
 * endpoints are Azure or the local lab — the lab differs only in endpoints, a kubeconfig file and
 * the credential the environment provides.
 *
 * Activities call {@link composition}; tests may install their own with {@link useComposition}.
 */
import { readFile } from "node:fs/promises";
import { rootCertificates } from "node:tls";
import { ApiManagementClient } from "@azure/arm-apimanagement";
import { CdnManagementClient } from "@azure/arm-cdn";
import { TableClient } from "@azure/data-tables";
import { AzureKeyCredential, EventGridPublisherClient } from "@azure/eventgrid";
import { DefaultAzureCredential, type TokenCredential } from "@azure/identity";
import { CertificateClient } from "@azure/keyvault-certificates";
import { SecretClient } from "@azure/keyvault-secrets";
import type { KubeConfig } from "@kubernetes/client-node";
import { appConfig, type Config } from "./config.js";
import { kubeConfigForAks, kubeConfigFromFile } from "./kubernetes/kubeConfig.js";

/** Options of {@link createComposition}; each default is stated. */
export interface CompositionOptions {
  /** Default: `DefaultAzureCredential` with `AZURE_CLIENT_ID` as the managed identity. */
  credential?: TokenCredential;
  /** The clock activities judge validity and leases by. Default: the system clock. */
  now?: () => Date;
  /** SDK retry options. Default: the SDKs' own (3 retries; 429/503 only with Retry-After). */
  retryOptions?: { maxRetries?: number; retryDelayInMs?: number; maxRetryDelayInMs?: number };
}

/** Every client the activities use. */
export interface Composition {
  readonly config: Config;
  readonly credential: TokenCredential;
  now(): Date;
  /** The configured vault URL (origin, no trailing slash) of a vault name, or undefined if not allowed. */
  vaultUrl(vaultName: string): string | undefined;
  certificateClient(vaultUrl: string): CertificateClient;
  secretClient(vaultUrl: string): SecretClient;
  cdnClient(subscriptionId: string): CdnManagementClient;
  apimClient(subscriptionId: string): ApiManagementClient;
  /** A kubeconfig for a cluster (AKS ARM id, or a context of `KUBERNETES_KUBECONFIG`). */
  kubeConfig(cluster: string): Promise<KubeConfig>;
  /** The audit table (created on first use). */
  auditTable(): Promise<TableClient>;
  /** The lease table of resource locks, `<AUDIT_TABLE_NAME>Locks` (created on first use). */
  lockTable(): Promise<TableClient>;
  /** The table of held (failed) versions, `<AUDIT_TABLE_NAME>Held` (created on first use). */
  heldTable(): Promise<TableClient>;
  /** Publisher of outcome CloudEvents to `OUTCOME_TOPIC_ENDPOINT` (key when configured, else the identity). */
  outcomePublisher(): EventGridPublisherClient<"CloudEvent">;
  /** Roots trusted for chain validation and probes (PEM): `TRUSTED_CA_BUNDLE_PATH`'s, plus Node's bundled roots. */
  trustedRoots(): Promise<string[]>;
}

const DEV_STORAGE =
  "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;";

/** A cache of one client per key, built on first use. */
const memo = <T>(map: Map<string, T>, key: string, make: () => T): T => {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
};

/** The Key Vault and ARM clients, one per vault URL or subscription. */
function sdkClients(
  config: Config,
  credential: TokenCredential,
  retryOptions: CompositionOptions["retryOptions"],
): Pick<Composition, "certificateClient" | "secretClient" | "cdnClient" | "apimClient"> {
  const certClients = new Map<string, CertificateClient>();
  const secretClients = new Map<string, SecretClient>();
  const cdnClients = new Map<string, CdnManagementClient>();
  const apimClients = new Map<string, ApiManagementClient>();
  const kvOptions = {
    disableChallengeResourceVerification: config.keyVault.disableChallengeResourceVerification,
    ...(retryOptions ? { retryOptions } : {}),
  };
  const armOptions = {
    $host: config.arm.endpoint,
    endpoint: config.arm.endpoint,
    credentialScopes: [config.arm.scope],
    ...(retryOptions ? { retryOptions } : {}),
  };
  return {
    certificateClient: (vaultUrl) =>
      memo(certClients, vaultUrl, () => new CertificateClient(vaultUrl, credential, kvOptions)),
    secretClient: (vaultUrl) =>
      memo(secretClients, vaultUrl, () => new SecretClient(vaultUrl, credential, kvOptions)),
    cdnClient: (sub) =>
      memo(cdnClients, sub.toLowerCase(), () => new CdnManagementClient(credential, sub, armOptions)),
    apimClient: (sub) =>
      memo(apimClients, sub.toLowerCase(), () => new ApiManagementClient(credential, sub, armOptions)),
  };
}

/** Kubeconfigs per cluster: from `KUBERNETES_KUBECONFIG`, or an AKS token renewed before it expires. */
function kubeConfigs(config: Config, credential: TokenCredential): Composition["kubeConfig"] {
  const cache = new Map<string, { kc: KubeConfig; expiresOn: number }>();
  return async (cluster) => {
    const key = cluster.trim().toLowerCase();
    const cached = cache.get(key);
    // Renew five minutes before the token expires.
    if (cached && cached.expiresOn - 300_000 > Date.now()) return cached.kc;
    if (config.discovery.kubeconfigPath) {
      const kc = kubeConfigFromFile(config.discovery.kubeconfigPath, cluster);
      cache.set(key, { kc, expiresOn: Number.POSITIVE_INFINITY });
      return kc;
    }
    const aks = await kubeConfigForAks(cluster, credential, config.arm);
    cache.set(key, { kc: aks.kubeConfig, expiresOn: aks.expiresOnTimestamp });
    return aks.kubeConfig;
  };
}

/** A table of the audit storage account by name, created on first use (a failed creation is tried again next time). */
function tables(config: Config, credential: TokenCredential): (name: string) => Promise<TableClient> {
  const cache = new Map<string, Promise<TableClient>>();
  return (name) =>
    memo(cache, name, () => {
      const client = tableClient(config, name, credential);
      return client
        .createTable()
        .then(() => client)
        .catch((e: unknown) => {
          cache.delete(name);
          throw e;
        });
    });
}

/** The roots trusted for chain validation: `TRUSTED_CA_BUNDLE_PATH`'s certificates, then Node's bundled roots. */
function readTrustedRoots(config: Config): Promise<string[]> {
  if (!config.trust.caBundlePath) return Promise.resolve([...rootCertificates]);
  return readFile(config.trust.caBundlePath, "utf8").then((pem) => {
    const extra = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    return [...extra, ...rootCertificates];
  });
}

/** Builds the composition for a configuration. Nothing connects until a client is used. */
export function createComposition(config: Config, options: CompositionOptions = {}): Composition {
  const credential =
    options.credential ??
    new DefaultAzureCredential(
      config.identity.clientId ? { managedIdentityClientId: config.identity.clientId } : {},
    );
  const retryOptions = options.retryOptions;
  const table = tables(config, credential);
  let publisher: EventGridPublisherClient<"CloudEvent"> | undefined;
  let roots: Promise<string[]> | undefined;
  return {
    config,
    credential,
    now: options.now ?? (() => new Date()),
    vaultUrl(vaultName) {
      const name = vaultName.trim().toLowerCase();
      return config.allowedVaultUrls.find((u) => new URL(u).hostname.split(".")[0]?.toLowerCase() === name);
    },
    ...sdkClients(config, credential, retryOptions),
    kubeConfig: kubeConfigs(config, credential),
    auditTable: () => table(config.audit.tableName),
    lockTable: () => table(`${config.audit.tableName}Locks`),
    heldTable: () => table(`${config.audit.tableName}Held`),
    outcomePublisher() {
      publisher ??= new EventGridPublisherClient(
        config.outcomeTopic.endpoint,
        "CloudEvent",
        config.outcomeTopic.key ? new AzureKeyCredential(config.outcomeTopic.key) : credential,
        retryOptions ? { retryOptions } : {},
      );
      return publisher;
    },
    trustedRoots() {
      roots ??= readTrustedRoots(config);
      return roots;
    },
  };
}

function tableClient(config: Config, name: string, credential: TokenCredential): TableClient {
  const c = config.audit.connection;
  if (c.kind === "identity") return new TableClient(c.tableServiceUri, name, credential);
  const cs = /^UseDevelopmentStorage=true/i.test(c.connectionString.trim())
    ? DEV_STORAGE
    : c.connectionString;
  const insecure = /(TableEndpoint=http:|DefaultEndpointsProtocol=http;)/i.test(cs);
  return TableClient.fromConnectionString(cs, name, insecure ? { allowInsecureConnection: true } : {});
}

let installed: Composition | undefined;
let built: Composition | undefined;

/**
 * The process-wide composition, built from {@link appConfig} (validated once, at app start) on first
 * use, and again only when the configuration was reloaded.
 */
export function composition(): Composition {
  if (installed) return installed;
  const config = appConfig();
  if (built?.config !== config) built = createComposition(config);
  return built;
}

/** Installs a composition (tests), or clears it so the next call builds one from the app's configuration. */
export function useComposition(c: Composition | undefined): void {
  installed = c;
  built = undefined;
}
