/**
 * Builds the hops' deployment views from the management-plane services' in-process APIs: ARM (what
 * Front Door and APIM have deployed, with Key Vault references), Key Vault (references → chain + key)
 * and Kubernetes (Ingress hosts → TLS Secret, auth-tls CA). Each view is read fresh on every call;
 * a service that is not running yields an empty view.
 */
import type { LabPki } from "../core/pki.js";
import { armApi, type KeyVaultSecretRef } from "../arm/api.js";
import { KEYVAULT_API, type KeyVaultApi } from "../keyvault/api.js";
import { kubernetesApi } from "../kubernetes/api.js";
import type {
  ApimView,
  EdgeSources,
  FrontDoorView,
  IngressHostView,
  IngressView,
  ServedCertificate,
  TlsMaterial,
} from "./view.js";

const PASS_CERT = "nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream";

/** Key Vault reference → served certificate; undefined (with a log line) when it cannot be served. */
function fromKeyVault(
  kv: KeyVaultApi | undefined,
  ref: KeyVaultSecretRef | undefined,
  log: (m: string) => void,
): ServedCertificate | undefined {
  if (!kv || !ref) return undefined;
  const resolved = kv.resolveSecret(ref.armId, ref.version);
  const label = `${ref.vaultName}/secrets/${ref.secretName}/${resolved?.version ?? ref.version ?? "latest"}`;
  if (!resolved) {
    log(`edge: Key Vault reference ${label} does not resolve.`);
    return undefined;
  }
  if (!resolved.keyPem) {
    log(`edge: ${label} has no exportable private key; it cannot be served.`);
    return undefined;
  }
  return { chainPem: resolved.chainPem, keyPem: resolved.keyPem, source: `keyvault ${label}` };
}

/** Views over the lab registry. `builtIn` issues certificates for APIM's built-in `*.azure-api.net` names. */
export function registrySources(
  registry: Map<string, unknown>,
  builtIn: BuiltInCertificates,
  log: (m: string) => void,
): EdgeSources {
  const kv = () => registry.get(KEYVAULT_API) as KeyVaultApi | undefined;
  return {
    frontDoor: {
      read(): FrontDoorView {
        const arm = armApi(registry);
        if (!arm) return { domains: [] };
        return {
          domains: arm.frontDoorDomains().map((d) => {
            // The route's origin group; the lab forwards to its first enabled origin.
            const origin = d.origins.find((o) => o.enabled);
            return {
              hostName: d.hostName,
              certificate: fromKeyVault(kv(), d.certificate?.keyVault, log),
              deployedAt: new Date(d.effectiveSince),
              origin: origin
                ? {
                    hostName: origin.hostName,
                    originHostHeader: origin.originHostHeader || undefined,
                    enforceCertificateNameCheck: origin.enforceCertificateNameCheck,
                  }
                : undefined,
            };
          }),
        };
      },
    },
    apim: {
      async read(): Promise<ApimView> {
        const arm = armApi(registry);
        if (!arm) return { hostnames: [] };
        const view: ApimView = { hostnames: [] };
        for (const gateway of arm.apimGateways()) {
          for (const h of gateway.hostnames.filter((x) => x.type === "Proxy")) {
            const certificate =
              h.certificateSource === "BuiltIn" || h.certificateSource === "Managed"
                ? await builtIn.get(h.hostName)
                : fromKeyVault(kv(), h.keyVault, log);
            view.hostnames.push({ hostName: h.hostName, certificate });
          }
          const backend = gateway.backends.find((b) => /^https:/i.test(b.url)) ?? gateway.backends[0];
          if (backend && !view.backend) {
            view.backend = {
              url: backend.url,
              validateCertificateChain: backend.tls.validateCertificateChain,
              validateCertificateName: backend.tls.validateCertificateName,
              clientCertificate: fromKeyVault(kv(), backend.clientCertificates[0]?.keyVault, log),
            };
          }
        }
        return view;
      },
    },
    ingress: {
      read(): IngressView {
        const k8s = kubernetesApi(registry);
        if (!k8s) return { hosts: [] };
        const hosts = new Map<string, IngressHostView>();
        for (const ingress of k8s.listIngresses()) {
          const names = [
            ...(ingress.spec?.tls ?? []).flatMap((t) => t.hosts ?? []),
            ...(ingress.spec?.rules ?? []).flatMap((r) => (r.host ? [r.host] : [])),
          ];
          for (const name of names) {
            const host = name.toLowerCase();
            if (hosts.has(host)) continue;
            const binding = k8s.resolveIngressTls(host);
            const certificate =
              binding?.certificateChainPem && binding.privateKeyPem
                ? {
                    chainPem: binding.certificateChainPem,
                    keyPem: binding.privateKeyPem,
                    source: `secret ${binding.secret}@${binding.versions.join(",")}`,
                  }
                : undefined;
            const annotations = ingress.metadata.annotations ?? {};
            hosts.set(host, {
              hostName: host,
              certificate,
              clientAuth: binding?.clientCaSecret
                ? {
                    caPem: binding.clientCaPem,
                    verify: binding.verifyClient ?? "on",
                    passCertificateToUpstream: annotations[PASS_CERT] === "true",
                  }
                : undefined,
            });
          }
        }
        return { hosts: [...hosts.values()] };
      },
    },
  };
}

/** Lab-CA certificates standing in for the Microsoft-managed certificates of built-in host names. */
export class BuiltInCertificates {
  private readonly issued = new Map<string, Promise<TlsMaterial>>();
  constructor(private readonly pki: LabPki) {}

  async get(hostName: string): Promise<ServedCertificate> {
    const host = hostName.toLowerCase();
    let material = this.issued.get(host);
    if (!material) {
      const wildcard = host.replace(/^[^.]+\./, "*.");
      material = this.pki
        .issue({ subject: `CN=${wildcard}`, names: [wildcard, host] })
        .then((c) => ({ chainPem: c.chainPem, keyPem: c.keyPem }));
      this.issued.set(host, material);
    }
    return { ...(await material), source: `built-in ${host}` };
  }
}
