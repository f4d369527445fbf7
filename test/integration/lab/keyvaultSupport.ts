/**
 * Helpers for the lab Key Vault tests: SDK clients pointed at the seeded vault, an HTTP client that
 * records every wire exchange (to see the challenge and injected faults), and PFX/PEM readers.
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import tls from "node:tls";
import forge from "node-forge";
import { createDefaultHttpClient, type HttpClient } from "@azure/core-rest-pipeline";
import type { TokenCredential } from "@azure/identity";
import { CertificateClient } from "@azure/keyvault-certificates";
import { SecretClient } from "@azure/keyvault-secrets";
import type { TestLab } from "../../support/lab.js";

export interface WireRecord {
  method: string;
  url: string;
  status: number;
  authorized: boolean;
  bodyLength: number;
  wwwAuthenticate?: string;
  /** Parsed JSON body of the response, when it has one. */
  responseBody?: unknown;
}

/** An HttpClient that forwards to the default one and records what went over the wire. */
export function recordingHttpClient(): { httpClient: HttpClient; records: WireRecord[] } {
  const inner = createDefaultHttpClient();
  const records: WireRecord[] = [];
  return {
    records,
    httpClient: {
      async sendRequest(request) {
        const response = await inner.sendRequest(request);
        const body = request.body;
        records.push({
          method: request.method,
          url: request.url,
          status: response.status,
          authorized: request.headers.has("authorization"),
          bodyLength: typeof body === "string" ? body.length : body ? -1 : 0,
          wwwAuthenticate: response.headers.get("www-authenticate"),
          responseBody: parseJson(response.bodyAsText),
        });
        return response;
      },
    },
  };
}

function parseJson(text: string | null | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * A credential whose tokens are minted by the lab control API (POST /lab/tokens), for any lab
 * identity, without going through the managed-identity endpoint and its process-wide token cache.
 */
export function labTokenCredential(lab: TestLab, identity: string): TokenCredential {
  return {
    async getToken(scopes) {
      const audience = (Array.isArray(scopes) ? scopes[0]! : scopes).replace(/\/\.default$/, "");
      const minted = await lab.control<{ token: string; expiresOn: number }>("POST", "/lab/tokens", {
        identity,
        audience,
      });
      if (minted.status !== 200) throw new Error(`The lab refused a token: ${JSON.stringify(minted.body)}`);
      return {
        token: minted.body.token,
        expiresOnTimestamp: minted.body.expiresOn * 1000,
      };
    },
  };
}

export function vaultUrl(lab: TestLab): string {
  return (lab.endpoints.keyVault as { url: string }).url;
}

export function certificateClient(
  lab: TestLab,
  credential: TokenCredential,
  httpClient?: HttpClient,
): CertificateClient {
  return new CertificateClient(vaultUrl(lab), credential, {
    ...(httpClient ? { httpClient } : {}),
    retryOptions: { maxRetryDelayInMs: 2000 },
  });
}

export function secretClient(
  lab: TestLab,
  credential: TokenCredential,
  httpClient?: HttpClient,
): SecretClient {
  return new SecretClient(vaultUrl(lab), credential, { ...(httpClient ? { httpClient } : {}) });
}

/** Reads a base64 PFX with node-forge (RSA keys) and proves Node's TLS stack accepts it. */
export function readPfx(base64: string, password = ""): { certs: string[]; keyPem?: string } {
  const p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(forge.util.decode64(base64)), false, password);
  // forge only models RSA certificates; EC ones (the lab root) come back as raw ASN.1.
  const certs = (p12.getBags({ bagType: forge.pki.oids.certBag! })[forge.pki.oids.certBag!] ?? []).map((b) =>
    b.cert
      ? forge.pki.certificateToPem(b.cert)
      : new X509Certificate(Buffer.from(forge.asn1.toDer(b.asn1).getBytes(), "binary")).toString(),
  );
  const keyBag = p12.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag! })[
    forge.pki.oids.pkcs8ShroudedKeyBag!
  ]?.[0];
  // Node's TLS stack must accept the PFX as a server identity (it refuses a PFX without a key).
  if (keyBag) tls.createSecureContext({ pfx: Buffer.from(base64, "base64"), passphrase: password });
  return {
    certs,
    ...(keyBag?.key ? { keyPem: forge.pki.privateKeyToPem(keyBag.key) } : {}),
  };
}

/** Splits a PEM secret into its blocks, in order. */
export function pemBlocks(text: string): Array<{ label: string; pem: string }> {
  return [...text.matchAll(/-----BEGIN ([A-Z ]+)-----[\s\S]+?-----END \1-----/g)].map((m) => ({
    label: m[1]!,
    pem: m[0],
  }));
}

export function keyMatchesCertificate(certPem: string, keyPem: string): boolean {
  return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
}

export const derToCertificate = (der: Uint8Array) => new X509Certificate(Buffer.from(der));
