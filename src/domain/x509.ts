/**
 * Reading X.509 certificates into plain, serialisable facts: names, validity, key, signature
 * algorithm, thumbprints, and the path from a leaf to a trusted root. Only public data is handled
 * here; no private key ever enters this module.
 *
 * Everything returned is JSON-safe (dates as ISO strings) because these facts travel through
 * Durable Functions history between the activity that reads a certificate and the orchestrator
 * that decides on it.
 */
import "reflect-metadata";
import { createHash, type webcrypto } from "node:crypto";
import {
  BasicConstraintsExtension,
  ExtendedKeyUsageExtension,
  SubjectAlternativeNameExtension,
  X509Certificate,
} from "@peculiar/x509";

export { X509Certificate };

/** Public key facts of a certificate. */
export type KeyInfo =
  { type: "RSA"; bits: number } | { type: "EC"; curve: string } | { type: "other"; algorithm: string };

/** Signature algorithm of a certificate, with the hash it uses (`MD5`, `SHA-1`, `SHA-256`…, or `unknown`). */
export interface SignatureInfo {
  algorithm: string;
  hash: string;
}

/** The facts about one certificate that the control plane decides on. */
export interface CertificateInfo {
  subject: string;
  issuer: string;
  serialNumber: string;
  /** ISO 8601. */
  notBefore: string;
  /** ISO 8601. */
  notAfter: string;
  /** First subject CN, when there is one. */
  commonName?: string;
  /** Whether a subjectAltName extension is present (when it is, the CN is ignored for name matching). */
  hasSubjectAltName: boolean;
  dnsNames: string[];
  ipAddresses: string[];
  /** Extended key usage OIDs; empty when the extension is absent (any usage allowed). */
  extendedKeyUsages: string[];
  key: KeyInfo;
  signature: SignatureInfo;
  isCa: boolean;
  /** SHA-1 over the DER, upper-case hex, as the Azure portal and APIs show it. */
  thumbprint: string;
  /** SHA-256 over the DER, upper-case hex. */
  thumbprintSha256: string;
}

/** Outcome of building a path from a leaf to a trusted root. */
export type ChainStatus =
  /** The path ends at a certificate in the trusted list. */
  | "trusted"
  /** No certificate among the supplied chain or the trusted roots issued the last one on the path. */
  | "incomplete"
  /** The path ends at a self-signed root that is not in the trusted list. */
  | "untrusted"
  /** An issuer with the right name is there, but its signature or CA flag does not hold. */
  | "invalid";

/** The path from the leaf upwards as far as it could be built, and why it ended there. */
export interface ChainAnalysis {
  status: ChainStatus;
  /** Leaf first; the trusted root last when `status` is `trusted`. */
  path: CertificateInfo[];
  /** Why the path ended, in a sentence (the missing issuer's name, the bad signature…). */
  detail: string;
}

/** What preflight needs to know about a candidate certificate: the leaf and its chain, as facts. */
export interface CandidateCertificate {
  leaf: CertificateInfo;
  chain: ChainAnalysis;
}

const EKU_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const EKU_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
/** OIDs of the extended key usages the checks care about. */
export const ExtendedKeyUsageOids = { serverAuth: EKU_SERVER_AUTH, clientAuth: EKU_CLIENT_AUTH } as const;

/** Signature algorithm OIDs that Web Crypto does not name, with the hash they use. */
const LEGACY_SIGNATURE_OIDS: Record<string, SignatureInfo> = {
  "1.2.840.113549.1.1.2": { algorithm: "md2WithRSAEncryption", hash: "MD2" },
  "1.2.840.113549.1.1.4": { algorithm: "md5WithRSAEncryption", hash: "MD5" },
  "1.2.840.113549.1.1.5": { algorithm: "sha1WithRSAEncryption", hash: "SHA-1" },
  "1.2.840.10045.4.1": { algorithm: "ecdsa-with-SHA1", hash: "SHA-1" },
  "1.2.840.10040.4.3": { algorithm: "dsa-with-sha1", hash: "SHA-1" },
};

/**
 * Reads one or more certificates from PEM text (any number of CERTIFICATE blocks; other blocks such
 * as a private key are skipped and never parsed) or from DER bytes. Throws a plain `Error` naming
 * the position of the item that cannot be read; callers turn it into a typed result.
 */
export function parseCertificates(
  input: string | Uint8Array | readonly (string | Uint8Array)[],
): X509Certificate[] {
  const items = typeof input === "string" || input instanceof Uint8Array ? [input] : input;
  const out: X509Certificate[] = [];
  items.forEach((item, index) => {
    if (typeof item === "string") {
      const blocks = item.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
      if (blocks.length === 0) throw new Error(`Item ${index} holds no PEM CERTIFICATE block.`);
      for (const block of blocks) out.push(readOne(block, index));
    } else {
      out.push(readOne(item, index));
    }
  });
  return out;
}

function readOne(raw: string | Uint8Array, index: number): X509Certificate {
  try {
    return new X509Certificate(typeof raw === "string" ? raw : toArrayBuffer(raw));
  } catch (e) {
    throw new Error(`Item ${index} is not a readable X.509 certificate: ${(e as Error).message}`);
  }
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** SHA-1 thumbprint of DER bytes, upper-case hex without separators (as Azure shows it). */
export function thumbprintSha1(der: ArrayBuffer | Uint8Array): string {
  return createHash("sha1").update(new Uint8Array(der)).digest("hex").toUpperCase();
}

/** SHA-256 thumbprint of DER bytes, upper-case hex without separators. */
export function thumbprintSha256(der: ArrayBuffer | Uint8Array): string {
  return createHash("sha256").update(new Uint8Array(der)).digest("hex").toUpperCase();
}

/**
 * Normalises a thumbprint written any common way (lower case, colons, spaces) to the upper-case
 * hex form used throughout the control plane.
 */
export function normaliseThumbprint(value: string): string {
  return value.replace(/[\s:-]/g, "").toUpperCase();
}

/** Reads the facts of one parsed certificate. */
export function describeCertificate(cert: X509Certificate): CertificateInfo {
  const san = cert.getExtension(SubjectAlternativeNameExtension);
  const names = san ? san.names.toJSON() : [];
  const eku = cert.getExtension(ExtendedKeyUsageExtension);
  const bc = cert.getExtension(BasicConstraintsExtension);
  const cn = cert.subjectName.getField("CN")[0];
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    serialNumber: cert.serialNumber,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    ...(cn !== undefined ? { commonName: cn } : {}),
    hasSubjectAltName: san !== null,
    dnsNames: names.filter((n) => n.type === "dns").map((n) => n.value),
    ipAddresses: names.filter((n) => n.type === "ip").map((n) => n.value),
    extendedKeyUsages: eku ? eku.usages.map(String) : [],
    key: keyInfo(cert),
    signature: signatureInfo(cert),
    isCa: bc?.ca === true,
    thumbprint: thumbprintSha1(cert.rawData),
    thumbprintSha256: thumbprintSha256(cert.rawData),
  };
}

function keyInfo(cert: X509Certificate): KeyInfo {
  const alg = cert.publicKey.algorithm as webcrypto.Algorithm & {
    modulusLength?: number;
    namedCurve?: string;
  };
  if ((alg.name === "RSASSA-PKCS1-v1_5" || alg.name === "RSA-PSS") && typeof alg.modulusLength === "number") {
    return { type: "RSA", bits: alg.modulusLength };
  }
  if ((alg.name === "ECDSA" || alg.name === "ECDH") && typeof alg.namedCurve === "string") {
    return { type: "EC", curve: alg.namedCurve };
  }
  return { type: "other", algorithm: alg.name };
}

function signatureInfo(cert: X509Certificate): SignatureInfo {
  let alg: webcrypto.Algorithm & { hash?: webcrypto.Algorithm | string };
  try {
    alg = cert.signatureAlgorithm as webcrypto.Algorithm & { hash?: webcrypto.Algorithm | string };
  } catch {
    return { algorithm: "unknown", hash: "unknown" };
  }
  const legacy = LEGACY_SIGNATURE_OIDS[alg.name];
  if (legacy) return legacy;
  const hash = typeof alg.hash === "string" ? alg.hash : (alg.hash?.name ?? "unknown");
  return { algorithm: hash === "unknown" ? alg.name : `${alg.name} with ${hash}`, hash };
}

/**
 * Builds the path from `leaf` through `intermediates` to one of `trustedRoots`, verifying each
 * signature and that every issuer is a CA. Dates are not judged here (the checks do that with an
 * injected clock), so the analysis depends only on the certificates.
 */
export async function analyseChain(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  trustedRoots: readonly X509Certificate[],
): Promise<ChainAnalysis> {
  const path: X509Certificate[] = [leaf];
  const trusted = new Map(trustedRoots.map((c) => [thumbprintSha256(c.rawData), c]));
  const pool = new Map(intermediates.map((c) => [thumbprintSha256(c.rawData), c]));
  pool.delete(thumbprintSha256(leaf.rawData));
  const done = (status: ChainStatus, detail: string): ChainAnalysis => ({
    status,
    path: path.map(describeCertificate),
    detail,
  });

  for (let depth = 0; depth < 10; depth++) {
    const current = path[path.length - 1] as X509Certificate;
    const currentId = thumbprintSha256(current.rawData);
    if (trusted.has(currentId))
      return done("trusted", `The chain ends at the trusted root "${current.subject}".`);

    const issuerName = hex(current.issuerName.toArrayBuffer());
    const named = (pool: Iterable<X509Certificate>) =>
      [...pool].filter((c) => hex(c.subjectName.toArrayBuffer()) === issuerName);

    const trustedIssuer = await firstVerifying(current, named(trusted.values()));
    if (trustedIssuer) {
      path.push(trustedIssuer);
      return done("trusted", `The chain ends at the trusted root "${trustedIssuer.subject}".`);
    }
    const selfIssued = hex(current.subjectName.toArrayBuffer()) === issuerName;
    if (selfIssued && (await verifies(current, current))) {
      return done(
        "untrusted",
        `The chain ends at "${current.subject}", a root that is not in the trusted list.`,
      );
    }
    const candidates = named(pool.values());
    const issuer = await firstVerifying(current, candidates);
    if (!issuer) {
      if (candidates.length > 0 || selfIssued) {
        return done(
          "invalid",
          `No certificate named "${current.issuer}" carries a valid signature over "${current.subject}".`,
        );
      }
      return done(
        "incomplete",
        `The issuer "${current.issuer}" of "${current.subject}" is missing from the chain.`,
      );
    }
    if (issuer.getExtension(BasicConstraintsExtension)?.ca !== true) {
      path.push(issuer);
      return done("invalid", `The intermediate "${issuer.subject}" is not a CA certificate.`);
    }
    path.push(issuer);
    pool.delete(thumbprintSha256(issuer.rawData));
  }
  return done("invalid", "The chain is longer than 10 certificates.");
}

async function firstVerifying(
  cert: X509Certificate,
  candidates: readonly X509Certificate[],
): Promise<X509Certificate | undefined> {
  for (const c of candidates) if (await verifies(cert, c)) return c;
  return undefined;
}

async function verifies(cert: X509Certificate, issuer: X509Certificate): Promise<boolean> {
  try {
    return await cert.verify({ publicKey: issuer.publicKey, signatureOnly: true });
  } catch {
    return false;
  }
}

function hex(buf: ArrayBuffer): string {
  return Buffer.from(buf).toString("hex");
}

/** Input of {@link inspectCandidate}: public certificates only. */
export interface InspectCandidateInput {
  /**
   * The candidate's certificates, leaf first then its chain, as PEM text (one bundle or several)
   * or DER. A PEM bundle read from a Key Vault secret may also hold the private key: its block is
   * skipped and never parsed, but callers should strip it before calling anyway.
   */
  certificates: string | Uint8Array | readonly (string | Uint8Array)[];
  /** Roots the targets trust, PEM or DER. */
  trustedRoots: string | Uint8Array | readonly (string | Uint8Array)[];
}

/** Result of {@link inspectCandidate}: the facts, or a reason why the certificates could not be read. */
export type InspectCandidateResult =
  | { ok: true; candidate: CandidateCertificate }
  | { ok: false; reason: "CertificateUnreadable"; message: string };

/**
 * Reads a candidate leaf and its chain into {@link CandidateCertificate} facts for preflight.
 * Never throws on bad input: unreadable certificates come back as a typed failure.
 */
export async function inspectCandidate(input: InspectCandidateInput): Promise<InspectCandidateResult> {
  let certs: X509Certificate[];
  let roots: X509Certificate[];
  try {
    certs = parseCertificates(input.certificates);
    roots = parseCertificates(input.trustedRoots);
  } catch (e) {
    return { ok: false, reason: "CertificateUnreadable", message: (e as Error).message };
  }
  const [leaf, ...chain] = certs;
  if (!leaf) return { ok: false, reason: "CertificateUnreadable", message: "No certificate was supplied." };
  return {
    ok: true,
    candidate: { leaf: describeCertificate(leaf), chain: await analyseChain(leaf, chain, roots) },
  };
}
