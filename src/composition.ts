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
import { loadConfig, type Config } from "./config.js";
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
  /** Publisher of outcome CloudEvents to `OUTCOME_TOPIC_ENDPOINT` (key when configured, else the identity). */
  outcomePublisher(): EventGridPublisherClient<"CloudEvent">;
  /** Roots trusted for chain validation and probes (PEM): `TRUSTED_CA_BUNDLE_PATH`'s, plus Node's bundled roots. */
  trustedRoots(): Promise<string[]>;
}

const DEV_STORAGE =
  "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;";

/** Builds the composition for a configuration. Nothing connects until a client is used. */
export function createComposition(config: Config, options: CompositionOptions = {}): Composition {
  const credential =
    options.credential ??
    new DefaultAzureCredential(
      config.identity.clientId ? { managedIdentityClientId: config.identity.clientId } : {},
    );
  const retryOptions = options.retryOptions;
  const memo = <T>(map: Map<string, T>, key: string, make: () => T): T => {
    let v = map.get(key);
    if (v === undefined) {
      v = make();
      map.set(key, v);
    }
    return v;
  };
  const certClients = new Map<string, CertificateClient>();
  const secretClients = new Map<string, SecretClient>();
  const cdnClients = new Map<string, CdnManagementClient>();
  const apimClients = new Map<string, ApiManagementClient>();
  const kubeConfigs = new Map<string, { kc: KubeConfig; expiresOn: number }>();
  const tables = new Map<string, Promise<TableClient>>();
  let publisher: EventGridPublisherClient<"CloudEvent"> | undefined;
  let roots: Promise<string[]> | undefined;
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

  const table = (name: string): Promise<TableClient> =>
    memo(tables, name, () => {
      const client = tableClient(config, name, credential);
      return client
        .createTable()
        .then(() => client)
        .catch((e: unknown) => {
          tables.delete(name);
          throw e;
        });
    });

  return {
    config,
    credential,
    now: options.now ?? (() => new Date()),
    vaultUrl(vaultName) {
      const name = vaultName.trim().toLowerCase();
      return config.allowedVaultUrls.find((u) => new URL(u).hostname.split(".")[0]?.toLowerCase() === name);
    },
    certificateClient: (vaultUrl) =>
      memo(certClients, vaultUrl, () => new CertificateClient(vaultUrl, credential, kvOptions)),
    secretClient: (vaultUrl) =>
      memo(secretClients, vaultUrl, () => new SecretClient(vaultUrl, credential, kvOptions)),
    cdnClient: (sub) =>
      memo(cdnClients, sub.toLowerCase(), () => new CdnManagementClient(credential, sub, armOptions)),
    apimClient: (sub) =>
      memo(apimClients, sub.toLowerCase(), () => new ApiManagementClient(credential, sub, armOptions)),
    async kubeConfig(cluster) {
      const key = cluster.trim().toLowerCase();
      const cached = kubeConfigs.get(key);
      // Renew five minutes before the token expires.
      if (cached && cached.expiresOn - 300_000 > Date.now()) return cached.kc;
      if (config.discovery.kubeconfigPath) {
        const kc = kubeConfigFromFile(config.discovery.kubeconfigPath, cluster);
        kubeConfigs.set(key, { kc, expiresOn: Number.POSITIVE_INFINITY });
        return kc;
      }
      const aks = await kubeConfigForAks(cluster, credential, config.arm);
      kubeConfigs.set(key, { kc: aks.kubeConfig, expiresOn: aks.expiresOnTimestamp });
      return aks.kubeConfig;
    },
    auditTable: () => table(config.audit.tableName),
    lockTable: () => table(`${config.audit.tableName}Locks`),
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
      roots ??= config.trust.caBundlePath
        ? readFile(config.trust.caBundlePath, "utf8").then((pem) => {
            const extra = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
            return [...extra, ...rootCertificates];
          })
        : Promise.resolve([...rootCertificates]);
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

let current: Composition | undefined;

/** The process-wide composition, built from the app settings on first use. */
export function composition(): Composition {
  current ??= createComposition(loadConfig(process.env));
  return current;
}

/** Installs a composition (tests), or clears it so the next call rebuilds from the settings. */
export function useComposition(c: Composition | undefined): void {
  current = c;
}
