/**
 * The benchmark's extra certificates and their bindings, created in a running lab the way an operator
 * would: certificates through the Key Vault SDK, the APIM hostnames in one service update through
 * @azure/arm-apimanagement, Front Door secrets and custom domains through @azure/arm-cdn, and the
 * Kubernetes TLS Secrets and Ingresses through @kubernetes/client-node with the lab kubeconfig. Only
 * the Secrets' initial PEM content comes from the lab's in-process Key Vault API (as the lab's own
 * seed does), so no private key crosses a log or the wire outside the vault's own secret.
 *
 * Certificate `bench-007` covers three host names, one per hop:
 * `be-007.bench.contoso.test` (Ingress `api/bench-007`, Secret `api/bench-007-tls`),
 * `gw-007.bench.contoso.test` (a Proxy hostname of the seeded APIM service) and
 * `fd-007.bench.contoso.test` (Front Door custom domain `fd-007` with secret `bench-007-<version>`).
 * The Front Door domains have no route (the lab serves routes as seeded): the edge presents their
 * certificate and answers requests with Front Door's 404 page.
 */
import { ApiManagementClient, type HostnameConfiguration } from "@azure/arm-apimanagement";
import { CdnManagementClient } from "@azure/arm-cdn";
import { DefaultAzureCredential } from "@azure/identity";
import { CertificateClient, type CertificatePolicy } from "@azure/keyvault-certificates";
import { CoreV1Api, KubeConfig, NetworkingV1Api } from "@kubernetes/client-node";
import { KEYVAULT_API, type KeyVaultApi } from "../../emulator/lab/keyvault/api.js";
import type { TestLab } from "../../emulator/lab/inProcess.js";

/** The vault every benchmark certificate lives in (the seeded one). */
export const VAULT = "kv-contoso";
const NAMESPACE = "api";
const CERTIFICATE_ANNOTATION = "cert-rotation.e2e/certificate";
const ROLE_ANNOTATION = "cert-rotation.e2e/role";
const ARM_SCOPE = "https://management.azure.com/.default";

/** The names of benchmark certificate `i` (1-based) and of what binds it. */
export function benchNames(i: number) {
  const n = String(i).padStart(3, "0");
  return {
    certificate: `bench-${n}`,
    ingressHost: `be-${n}.bench.contoso.test`,
    apimHost: `gw-${n}.bench.contoso.test`,
    frontDoorHost: `fd-${n}.bench.contoso.test`,
    secret: `bench-${n}-tls`,
    ingress: `bench-${n}`,
    domain: `fd-${n}`,
  };
}

/** Runs `work` over `items` with at most `concurrency` at once. */
export async function pool<T>(
  items: T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

/** Creates and extends the benchmark topology in a lab. */
export class BenchTopology {
  /** How many benchmark certificates (with their three bindings each) exist. */
  count = 0;
  private readonly credential = new DefaultAzureCredential();
  private readonly certificates: CertificateClient;
  private readonly apim: ApiManagementClient;
  private readonly cdn: CdnManagementClient;
  private readonly core: CoreV1Api;
  private readonly networking: NetworkingV1Api;

  constructor(private readonly lab: TestLab) {
    const vaults = (lab.endpoints as unknown as { keyVault: { vaults: Record<string, { url: string }> } })
      .keyVault.vaults;
    const url = vaults[VAULT]?.url;
    if (!url) throw new Error(`The lab has no vault ${VAULT}.`);
    this.certificates = new CertificateClient(url, this.credential);
    const arm = lab.ctx.servers.arm.url;
    const options = { $host: arm, endpoint: arm, credentialScopes: [ARM_SCOPE] };
    this.apim = new ApiManagementClient(this.credential, lab.ctx.seed.subscriptionId, options);
    this.cdn = new CdnManagementClient(this.credential, lab.ctx.seed.subscriptionId, options);
    const kc = new KubeConfig();
    kc.loadFromFile(lab.endpoints.kubeconfig as string);
    this.core = kc.makeApiClient(CoreV1Api);
    this.networking = kc.makeApiClient(NetworkingV1Api);
  }

  private get kv(): KeyVaultApi {
    return this.lab.ctx.registry.get(KEYVAULT_API) as KeyVaultApi;
  }

  /** Extends the topology to `total` certificates (call with zero lab latency: it waits for each write). */
  async growTo(total: number): Promise<void> {
    if (total <= this.count) return;
    const indexes = Array.from({ length: total - this.count }, (_, k) => this.count + k + 1);
    // 1. Certificates, issued by the vault's integrated lab CA.
    await pool(indexes, 8, async (i) => {
      const n = benchNames(i);
      const policy: CertificatePolicy = {
        issuerName: "LabCA",
        subject: `CN=${n.frontDoorHost}`,
        subjectAlternativeNames: { dnsNames: [n.frontDoorHost, n.apimHost, n.ingressHost] },
        keyType: "RSA",
        keySize: 2048,
        exportable: true,
        reuseKey: false,
        contentType: "application/x-pkcs12",
        validityInMonths: 12,
      };
      const poller = await this.certificates.beginCreateCertificate(n.certificate, policy, {
        intervalInMs: 50,
      });
      await poller.pollUntilDone();
    });
    // 2. Kubernetes: a TLS Secret annotated with its vault certificate, and an Ingress using it.
    await pool(indexes, 8, (i) => this.createKubernetes(i));
    // 3. APIM: every new Proxy hostname in one service update (the whole array goes back).
    await this.addApimHostnames(indexes);
    // 4. Front Door: a customer-certificate secret per certificate and a custom domain using it.
    await pool(indexes, 8, (i) => this.createFrontDoor(i));
    this.count = total;
  }

  /** A new version of each of the first `n` benchmark certificates; returns certificate → version. */
  async newVersions(n: number): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const indexes = Array.from({ length: n }, (_, k) => k + 1);
    await pool(indexes, 8, async (i) => {
      const name = benchNames(i).certificate;
      const policy = await this.certificates.getCertificatePolicy(name);
      const poller = await this.certificates.beginCreateCertificate(name, policy, { intervalInMs: 50 });
      const created = await poller.pollUntilDone();
      out.set(name, created.properties.version as string);
    });
    return out;
  }

  private current(name: string) {
    const v = this.kv.currentVersion(VAULT, name);
    if (!v) throw new Error(`The lab vault has no completed version of ${name}.`);
    return v;
  }

  private async createKubernetes(i: number): Promise<void> {
    const n = benchNames(i);
    const resolved = this.kv.resolveSecret(`${this.kv.vaultResourceId(VAULT)}/secrets/${n.certificate}`);
    if (!resolved?.keyPem) throw new Error(`The lab vault cannot resolve the key of ${n.certificate}.`);
    const pemBlocks = (resolved.chainPem.match(/-----BEGIN [^-]+-----[\s\S]*?-----END [^-]+-----/g) ?? [])
      .map((b) => `${b}\n`)
      .join("");
    await this.core.createNamespacedSecret({
      namespace: NAMESPACE,
      body: {
        apiVersion: "v1",
        kind: "Secret",
        metadata: {
          name: n.secret,
          annotations: { [CERTIFICATE_ANNOTATION]: `${VAULT}/${n.certificate}`, [ROLE_ANNOTATION]: "tls" },
          labels: { "app.kubernetes.io/part-of": "bench-rollout" },
        },
        type: "kubernetes.io/tls",
        data: {
          "tls.crt": Buffer.from(pemBlocks).toString("base64"),
          "tls.key": Buffer.from(resolved.keyPem).toString("base64"),
        },
      },
    });
    await this.networking.createNamespacedIngress({
      namespace: NAMESPACE,
      body: {
        apiVersion: "networking.k8s.io/v1",
        kind: "Ingress",
        metadata: { name: n.ingress, labels: { "app.kubernetes.io/part-of": "bench-rollout" } },
        spec: {
          ingressClassName: "nginx",
          tls: [{ hosts: [n.ingressHost], secretName: n.secret }],
          rules: [
            {
              host: n.ingressHost,
              http: {
                paths: [
                  {
                    path: "/",
                    pathType: "Prefix",
                    backend: { service: { name: "backend", port: { number: 80 } } },
                  },
                ],
              },
            },
          ],
        },
      },
    });
  }

  private async addApimHostnames(indexes: number[]): Promise<void> {
    const seed = this.lab.ctx.seed;
    const service = await this.apim.apiManagementService.get(seed.resourceGroup, seed.apim.service);
    const added: HostnameConfiguration[] = indexes.map((i) => {
      const n = benchNames(i);
      return {
        type: "Proxy",
        hostName: n.apimHost,
        keyVaultId: this.current(n.certificate).secretId,
        certificateSource: "KeyVault",
        negotiateClientCertificate: false,
        defaultSslBinding: false,
      };
    });
    await this.apim.apiManagementService.beginUpdateAndWait(
      seed.resourceGroup,
      seed.apim.service,
      { hostnameConfigurations: [...(service.hostnameConfigurations ?? []), ...added] },
      { updateIntervalInMs: 20 },
    );
  }

  private async createFrontDoor(i: number): Promise<void> {
    const seed = this.lab.ctx.seed;
    const n = benchNames(i);
    const version = this.current(n.certificate).version;
    const profile = seed.frontDoor.profile;
    const vaultSecretArmId = `${this.kv.vaultResourceId(VAULT)}/secrets/${n.certificate}`;
    const secret = await this.cdn.secrets.beginCreateAndWait(
      seed.resourceGroup,
      profile,
      `${n.certificate}-${version.slice(0, 8)}`,
      {
        parameters: {
          type: "CustomerCertificate",
          secretSource: { id: vaultSecretArmId },
          secretVersion: version,
          useLatestVersion: false,
        },
      },
      { updateIntervalInMs: 20 },
    );
    await this.cdn.afdCustomDomains.beginCreateAndWait(
      seed.resourceGroup,
      profile,
      n.domain,
      {
        hostName: n.frontDoorHost,
        tlsSettings: {
          certificateType: "CustomerCertificate",
          minimumTlsVersion: "TLS12",
          secret: { id: secret.id as string },
        },
      },
      { updateIntervalInMs: 20 },
    );
  }
}
