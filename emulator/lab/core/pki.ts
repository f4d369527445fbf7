/**
 * The lab's PKI: one root CA generated at first start and kept in the state folder, and leaf
 * certificates issued from it for every lab endpoint (and for the integrated issuer of the lab Key
 * Vault). Keys are ECDSA P-256 for servers (fast to generate) unless a caller asks for RSA.
 */
import { webcrypto } from "node:crypto";

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type EcKeyAlgorithm = webcrypto.EcKeyAlgorithm;
type RsaHashedKeyAlgorithm = webcrypto.RsaHashedKeyAlgorithm;
type Algorithm = webcrypto.Algorithm;
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto);

export type KeySpec = { kty: "EC"; curve?: "P-256" | "P-384" } | { kty: "RSA"; size?: 2048 | 3072 | 4096 };

export interface IssueOptions {
  /** Subject, e.g. "CN=api.contoso.test". */
  subject: string;
  /** DNS names; IPs are recognised and put in IP SAN entries. */
  names: string[];
  notBefore?: Date;
  notAfter?: Date;
  key?: KeySpec;
  /** "server" (default), "client", or both. */
  usage?: "server" | "client" | "both";
  /** Sign with another CA than the lab root (e.g. a foreign CA for untrusted-chain tests). */
  issuer?: CertificateAuthority;
  hash?: "SHA-256" | "SHA-384" | "SHA-1";
}

export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
  /** Leaf first, then the issuing CA (the lab root is its own issuer, so the chain is leaf + root). */
  chainPem: string;
  certificate: x509.X509Certificate;
}

/** A CA that can sign leaves: the lab root, or any extra CA created for tests. */
export interface CertificateAuthority {
  certificate: x509.X509Certificate;
  certPem: string;
  keys: CryptoKeyPair;
}

const ecAlg = (curve: string) => ({ name: "ECDSA", namedCurve: curve, hash: "SHA-256" });
const rsaAlg = (size: number, hash = "SHA-256") => ({
  name: "RSASSA-PKCS1-v1_5",
  modulusLength: size,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash,
});

async function generateKeys(spec: KeySpec, hash?: string): Promise<CryptoKeyPair> {
  const alg = spec.kty === "EC" ? ecAlg(spec.curve ?? "P-256") : rsaAlg(spec.size ?? 2048, hash);
  return await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"]);
}

function signingAlgorithm(key: CryptoKey, hash = "SHA-256"): Algorithm & { hash: string } {
  return key.algorithm.name === "ECDSA" ? { name: "ECDSA", hash } : { name: "RSASSA-PKCS1-v1_5", hash };
}

/** PKCS#8 PEM of a private key. */
export async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

const isIp = (name: string) => /^\d+\.\d+\.\d+\.\d+$/.test(name) || name.includes(":");

/** Creates a self-signed CA (the lab root, or a foreign one for tests). */
export async function createCertificateAuthority(
  commonName: string,
  years = 10,
  key: KeySpec = { kty: "EC" },
): Promise<CertificateAuthority> {
  const keys = await generateKeys(key);
  const now = new Date();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${commonName}, O=e2e-cert-rotation lab`,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + years * 365 * 86_400_000),
    keys,
    signingAlgorithm: signingAlgorithm(keys.privateKey),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certificate, certPem: certificate.toString("pem"), keys };
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return Buffer.from(bytes).toString("hex");
}

/** Issues a leaf certificate signed by `ca`. */
export async function issueCertificate(
  ca: CertificateAuthority,
  options: IssueOptions,
): Promise<IssuedCertificate> {
  const issuer = options.issuer ?? ca;
  const keys = await generateKeys(options.key ?? { kty: "EC" }, options.hash);
  const now = new Date();
  const usage = options.usage ?? "server";
  const ekus = [
    ...(usage !== "client" ? [x509.ExtendedKeyUsage.serverAuth] : []),
    ...(usage !== "server" ? [x509.ExtendedKeyUsage.clientAuth] : []),
  ];
  const sans = options.names.map((n) =>
    isIp(n) ? { type: "ip" as const, value: n } : { type: "dns" as const, value: n },
  );
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: options.subject,
    issuer: issuer.certificate.subject,
    notBefore: options.notBefore ?? new Date(now.getTime() - 60_000),
    notAfter: options.notAfter ?? new Date(now.getTime() + 365 * 86_400_000),
    publicKey: keys.publicKey,
    signingKey: issuer.keys.privateKey,
    signingAlgorithm: signingAlgorithm(issuer.keys.privateKey, options.hash),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature |
          (keys.privateKey.algorithm.name === "ECDSA" ? 0 : x509.KeyUsageFlags.keyEncipherment),
        true,
      ),
      new x509.ExtendedKeyUsageExtension(ekus),
      ...(sans.length ? [new x509.SubjectAlternativeNameExtension(sans)] : []),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.certificate),
    ],
  });
  const certPem = certificate.toString("pem");
  return {
    certPem,
    keyPem: await privateKeyPem(keys.privateKey),
    chainPem: `${certPem}\n${issuer.certPem}\n`,
    certificate,
  };
}

/** Imports a CA from PEM files (certificate + PKCS#8 key). */
async function importCertificateAuthority(certPem: string, keyPem: string): Promise<CertificateAuthority> {
  const certificate = new x509.X509Certificate(certPem);
  const algorithm = certificate.publicKey.algorithm as EcKeyAlgorithm | RsaHashedKeyAlgorithm;
  const importAlg =
    algorithm.name === "ECDSA"
      ? { name: "ECDSA", namedCurve: (algorithm as EcKeyAlgorithm).namedCurve }
      : { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  const privateKey = await webcrypto.subtle.importKey(
    "pkcs8",
    x509.PemConverter.decodeFirst(keyPem),
    importAlg,
    true,
    ["sign"],
  );
  // @peculiar/x509's typings name the DOM's global CryptoKey, which this project's libs (ES2023, no
  // DOM) lack, so its return type resolves to an error type: name the key type node:crypto gives.
  const publicKey = (await certificate.publicKey.export(importAlg, ["verify"], webcrypto)) as CryptoKey;
  return { certificate, certPem: certificate.toString("pem"), keys: { privateKey, publicKey } };
}

/** The lab root CA, loaded from `<stateDir>/ca.crt` + `ca.key` or created there. */
export class LabPki {
  private constructor(
    readonly root: CertificateAuthority,
    /** Path of the root certificate PEM, for NODE_EXTRA_CA_CERTS, kubeconfig and curl. */
    readonly caCertPath: string,
  ) {}

  static async open(stateDir: string): Promise<LabPki> {
    mkdirSync(stateDir, { recursive: true });
    const certPath = join(stateDir, "ca.crt");
    const keyPath = join(stateDir, "ca.key");
    if (existsSync(certPath) && existsSync(keyPath)) {
      return new LabPki(
        await importCertificateAuthority(readFileSync(certPath, "utf8"), readFileSync(keyPath, "utf8")),
        certPath,
      );
    }
    const root = await createCertificateAuthority("e2e-cert-rotation lab root CA");
    writeFileSync(keyPath, await privateKeyPem(root.keys.privateKey), { mode: 0o600 });
    writeFileSync(certPath, root.certPem);
    return new LabPki(root, certPath);
  }

  /** A TLS server certificate for lab endpoints (names may include wildcards and 127.0.0.1). */
  serverCertificate(names: string[]): Promise<IssuedCertificate> {
    return issueCertificate(this.root, { subject: `CN=${names[0] ?? "lab"}`, names, usage: "server" });
  }

  issue(options: IssueOptions): Promise<IssuedCertificate> {
    return issueCertificate(this.root, options);
  }
}
