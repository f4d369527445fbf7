/**
 * Binding a certificate in the lab the way an operator would, through the real management APIs
 * (@kubernetes/client-node, @azure/arm-cdn, any @azure/arm-* client): a Kubernetes TLS Secret and the
 * Ingress using it, a Front Door secret pinned to a vault version and the custom domain using it —
 * and the `tls.crt`/`tls.key` pair of a vault secret that such a Secret holds.
 */
import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import type { CdnManagementClient } from "@azure/arm-cdn";
import { CoreV1Api, KubeConfig, NetworkingV1Api } from "@kubernetes/client-node";
import forge from "node-forge";
import type { TestLab } from "./lab.js";

/** Options for an `@azure/arm-*` client that point it at the lab's ARM. */
export function labArmOptions(lab: TestLab): { $host: string; endpoint: string; credentialScopes: string[] } {
  const arm = lab.ctx.servers.arm.url;
  return { $host: arm, endpoint: arm, credentialScopes: ["https://management.azure.com/.default"] };
}

/** The ARM resource id the lab publishes for one of its vaults. */
export function labVaultResourceId(lab: TestLab, vault: string): string {
  const id = (lab.endpoints as unknown as { keyVault: { vaults: Record<string, { resourceId: string }> } })
    .keyVault.vaults[vault]?.resourceId;
  assert.ok(id, "the lab publishes the vault's ARM id");
  return id;
}

/** Clients of the lab's Kubernetes API, from the kubeconfig it writes. */
export function labKubernetes(lab: TestLab): { core: CoreV1Api; networking: NetworkingV1Api } {
  const kc = new KubeConfig();
  kc.loadFromFile(lab.endpoints.kubeconfig as string);
  return { core: kc.makeApiClient(CoreV1Api), networking: kc.makeApiClient(NetworkingV1Api) };
}

/** Creates a `kubernetes.io/tls` Secret holding `pair` as `tls.crt` and `tls.key`. */
export async function createTlsSecret(
  core: CoreV1Api,
  secret: { namespace: string; name: string; annotations: Record<string, string>; pair: TlsPair },
): Promise<void> {
  await core.createNamespacedSecret({
    namespace: secret.namespace,
    body: {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: secret.name, annotations: secret.annotations },
      type: "kubernetes.io/tls",
      data: {
        "tls.crt": Buffer.from(secret.pair.cert).toString("base64"),
        "tls.key": Buffer.from(secret.pair.key).toString("base64"),
      },
    },
  });
}

/** Creates an nginx Ingress with one TLS host per entry, from its Secret, each routing `/` to `backend:80`. */
export async function createTlsIngress(
  networking: NetworkingV1Api,
  ingress: { namespace: string; name: string; hosts: { host: string; secretName: string }[] },
): Promise<void> {
  await networking.createNamespacedIngress({
    namespace: ingress.namespace,
    body: {
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: { name: ingress.name },
      spec: {
        ingressClassName: "nginx",
        tls: ingress.hosts.map(({ host, secretName }) => ({ hosts: [host], secretName })),
        rules: ingress.hosts.map(({ host }) => ({
          host,
          http: {
            paths: [
              {
                path: "/",
                pathType: "Prefix",
                backend: { service: { name: "backend", port: { number: 80 } } },
              },
            ],
          },
        })),
      },
    },
  });
}

/**
 * Creates a Front Door customer-certificate secret pinned to one vault version (named
 * `{certificate}-{first 8 characters of the version}`) and a custom domain serving `hostName` with it.
 */
export async function createFrontDoorDomain(
  cdn: CdnManagementClient,
  domain: {
    resourceGroup: string;
    profile: string;
    vaultResourceId: string;
    certificate: string;
    version: string;
    name: string;
    hostName: string;
  },
): Promise<void> {
  const fdSecret = await cdn.secrets.beginCreateAndWait(
    domain.resourceGroup,
    domain.profile,
    `${domain.certificate}-${domain.version.slice(0, 8)}`,
    {
      parameters: {
        type: "CustomerCertificate",
        secretSource: { id: `${domain.vaultResourceId}/secrets/${domain.certificate}` },
        secretVersion: domain.version,
        useLatestVersion: false,
      },
    },
    { updateIntervalInMs: 50 },
  );
  await cdn.afdCustomDomains.beginCreateAndWait(
    domain.resourceGroup,
    domain.profile,
    domain.name,
    {
      hostName: domain.hostName,
      tlsSettings: {
        certificateType: "CustomerCertificate",
        minimumTlsVersion: "TLS12",
        secret: { id: fdSecret.id as string },
      },
    },
    { updateIntervalInMs: 50 },
  );
}

/** A Kubernetes TLS Secret's contents: `cert` the leaf first, then its chain; `key` the private key. */
export interface TlsPair {
  cert: string;
  key: string;
}

/**
 * The TLS pair of a Key Vault secret value: PEM (`application/x-pem-file`; the key as PKCS#8), or
 * base64 PKCS#12 without a password, as Key Vault stores it (the key as forge writes it).
 */
export function tlsPair(value: string): TlsPair {
  return value.includes("-----BEGIN") ? pemTlsPair(value) : pfxTlsPair(value);
}

function pemTlsPair(pem: string): TlsPair {
  const certs = (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
    (c) => new X509Certificate(c),
  );
  assert.ok(certs.length > 0, "the vault secret holds a certificate chain");
  const ordered = [...certs.filter((c) => !c.ca), ...certs.filter((c) => c.ca)];
  return {
    cert: ordered.map((c) => c.toString()).join(""),
    key: createPrivateKey(pem).export({ format: "pem", type: "pkcs8" }).toString(),
  };
}

function pfxTlsPair(value: string): TlsPair {
  const p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(forge.util.decode64(value)), "");
  const shrouded = forge.pki.oids.pkcs8ShroudedKeyBag as string;
  const plain = forge.pki.oids.keyBag as string;
  const certBag = forge.pki.oids.certBag as string;
  const keyBag =
    p12.getBags({ bagType: shrouded })[shrouded]?.[0] ?? p12.getBags({ bagType: plain })[plain]?.[0];
  const certs = p12.getBags({ bagType: certBag })[certBag] ?? [];
  assert.ok(keyBag?.key && certs.length > 0, "the vault secret holds a key and a chain");
  // A PFX keeps no order. forge parses RSA certificates only; any other (an EC CA) keeps its ASN.1.
  const pems = certs.map((b) => {
    const asn1 = b.cert ? forge.pki.certificateToAsn1(b.cert) : (b as { asn1?: forge.asn1.Asn1 }).asn1;
    assert.ok(asn1, "a certificate bag holds a certificate");
    return new X509Certificate(Buffer.from(forge.asn1.toDer(asn1).getBytes(), "binary")).toString();
  });
  const isLeaf = (pem: string) => !new X509Certificate(pem).ca;
  return {
    key: forge.pki.privateKeyToPem(keyBag.key),
    cert: [...pems.filter(isLeaf), ...pems.filter((p) => !isLeaf(p))].join(""),
  };
}
