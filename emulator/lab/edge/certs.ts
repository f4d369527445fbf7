/**
 * Served certificates, prepared once: the TLS secure context to hand to a handshake, and public facts
 * (thumbprints, subject, names, validity) for inspection, logs and health documents. Key material
 * stays inside the secure context; nothing here returns or prints it.
 */
import { createHash, X509Certificate } from "node:crypto";
import tls from "node:tls";
import type { ServedCertificate, TlsMaterial } from "./view.js";

/** Public facts of a leaf certificate. */
export interface CertificateFacts {
  /** SHA-1 over the DER, upper-case hex without separators (what Azure calls the thumbprint). */
  thumbprint: string;
  /** SHA-256 over the DER, upper-case hex without separators. */
  sha256: string;
  subject: string;
  issuer: string;
  /** DNS names from the subjectAltName extension. */
  dnsNames: string[];
  notBefore: string;
  notAfter: string;
  /** Where it came from (a Key Vault secret version, a Kubernetes Secret…). */
  source: string;
}

/** A certificate ready to serve. */
export interface PreparedCertificate {
  facts: CertificateFacts;
  context: tls.SecureContext;
  /** Kept for presenting it as a client certificate towards the next hop. */
  material: TlsMaterial;
}

const cache = new Map<string, PreparedCertificate>();

/** The first certificate of a PEM bundle. */
export function firstCertificate(pem: string): X509Certificate {
  const match = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem);
  if (!match) throw new Error("The PEM bundle holds no certificate.");
  return new X509Certificate(match[0]);
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** A PEM bundle with one certificate block per line group (tolerates blocks glued without a newline). */
export function normalizeBundle(pem: string): string {
  return `${[...pem.matchAll(PEM_BLOCK)].map((m) => m[0]).join("\n")}\n`;
}

/** Every certificate of a PEM bundle. */
export function allCertificates(pem: string): X509Certificate[] {
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map(
    (m) => new X509Certificate(m[0]),
  );
}

/** Facts of a leaf certificate. */
export function certificateFacts(leaf: X509Certificate, source: string): CertificateFacts {
  const der = leaf.raw;
  return {
    thumbprint: createHash("sha1").update(der).digest("hex").toUpperCase(),
    sha256: createHash("sha256").update(der).digest("hex").toUpperCase(),
    subject: distinguishedName(leaf.subject),
    issuer: distinguishedName(leaf.issuer),
    dnsNames: (leaf.subjectAltName ?? "")
      .split(/,\s*/)
      .filter((n) => n.startsWith("DNS:"))
      .map((n) => n.slice(4)),
    notBefore: new Date(leaf.validFrom).toISOString(),
    notAfter: new Date(leaf.validTo).toISOString(),
    source,
  };
}

/**
 * Prepares a served certificate (cached by content). Throws a message without key material when
 * the chain or key cannot be loaded (for example a key that does not match the certificate).
 */
export function prepare(served: ServedCertificate): PreparedCertificate {
  const id = createHash("sha256").update(served.chainPem).update("\0").update(served.keyPem).digest("hex");
  const hit = cache.get(id);
  if (hit)
    return hit.facts.source === served.source
      ? hit
      : { ...hit, facts: { ...hit.facts, source: served.source } };
  const facts = certificateFacts(firstCertificate(served.chainPem), served.source);
  let context: tls.SecureContext;
  try {
    context = tls.createSecureContext({ cert: normalizeBundle(served.chainPem), key: served.keyPem });
  } catch (error) {
    throw new Error(
      `The certificate ${facts.thumbprint} from ${served.source} cannot be served: ${(error as Error).message}`,
    );
  }
  const prepared: PreparedCertificate = {
    facts,
    context,
    material: { chainPem: normalizeBundle(served.chainPem), keyPem: served.keyPem },
  };
  if (cache.size > 500) cache.clear();
  cache.set(id, prepared);
  return prepared;
}

/** Node prints DNs one attribute per line ("CN=a\nO=b"); nginx and Azure print them RFC 2253 style. */
export function distinguishedName(nodeDn: string): string {
  return nodeDn
    .split("\n")
    .filter((l) => l.length > 0)
    .reverse()
    .join(",");
}
