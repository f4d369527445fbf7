/**
 * Builders for real X.509 test certificates: a test root CA, an intermediate, and leaves with chosen
 * names, validity, key type and signature algorithm. Keys are generated once per key kind and
 * process (each test file runs in its own process), so building many certificates stays fast.
 */
import "reflect-metadata";
import { createPrivateKey, webcrypto } from "node:crypto";

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type SubtleCrypto = webcrypto.SubtleCrypto;
type Algorithm = webcrypto.Algorithm;
type RsaHashedKeyGenParams = webcrypto.RsaHashedKeyGenParams;
type EcKeyGenParams = webcrypto.EcKeyGenParams;
type EcdsaParams = webcrypto.EcdsaParams;
type RsaHashedImportParams = webcrypto.RsaHashedImportParams;
type RsaHashedKeyAlgorithm = webcrypto.RsaHashedKeyAlgorithm;
import forge from "node-forge";
import {
  BasicConstraintsExtension,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  X509Certificate,
  X509CertificateGenerator,
  type Extension,
  type JsonGeneralName,
} from "@peculiar/x509";

const subtle: SubtleCrypto = webcrypto.subtle;

/** A fixed instant the tests treat as "now". */
export const NOW = new Date("2026-06-01T12:00:00.000Z");
const DAY = 86_400_000;
/** `now` plus a number of days (negative for the past). */
export const daysFrom = (now: Date, days: number): Date => new Date(now.getTime() + days * DAY);

/** Key kinds the builders can issue for. */
export type KeyKind = "rsa1024" | "rsa2048" | "rsa3072" | "ecP256" | "ecP384" | "ecP521";
/** Hash of a certificate signature; MD5 is produced with node-forge since Web Crypto refuses it. */
export type SignatureHash = "SHA-256" | "SHA-384" | "SHA-1" | "MD5";

const keyCache = new Map<string, Promise<CryptoKeyPair>>();

function rsaAlg(bits: number, hash = "SHA-256"): RsaHashedKeyGenParams {
  return { name: "RSASSA-PKCS1-v1_5", hash, publicExponent: new Uint8Array([1, 0, 1]), modulusLength: bits };
}

function keyGenParams(kind: KeyKind): RsaHashedKeyGenParams | EcKeyGenParams {
  switch (kind) {
    case "rsa1024":
      return rsaAlg(1024);
    case "rsa2048":
      return rsaAlg(2048);
    case "rsa3072":
      return rsaAlg(3072);
    case "ecP256":
      return { name: "ECDSA", namedCurve: "P-256" };
    case "ecP384":
      return { name: "ECDSA", namedCurve: "P-384" };
    case "ecP521":
      return { name: "ECDSA", namedCurve: "P-521" };
  }
}

/**
 * A key pair of the given kind, generated once per process and slot. Use different `slot` values
 * when a test needs two distinct keys of the same kind.
 */
export function testKey(kind: KeyKind, slot = 0): Promise<CryptoKeyPair> {
  const id = `${kind}:${slot}`;
  let p = keyCache.get(id);
  if (!p) {
    p = subtle.generateKey(keyGenParams(kind), true, ["sign", "verify"]);
    keyCache.set(id, p);
  }
  return p;
}

/** A CA certificate with its keys. */
export interface TestCa {
  cert: X509Certificate;
  keys: CryptoKeyPair;
  pem: string;
}

/** A built leaf: the certificate, its PEM/DER forms, and the chain it was issued under. */
export interface BuiltLeaf {
  cert: X509Certificate;
  pem: string;
  der: Uint8Array;
  keys: CryptoKeyPair;
  /** Issuer chain above the leaf, nearest first, without the root. */
  intermediates: X509Certificate[];
  /** Leaf then intermediates, as one PEM bundle (what a Key Vault secret carries, minus the key). */
  chainPem: string;
}

let serial = 0x1000;
const nextSerial = () => (serial++).toString(16).padStart(8, "0");

function signingParams(issuerKeys: CryptoKeyPair, hash: string): Algorithm {
  const alg = issuerKeys.privateKey.algorithm;
  return alg.name === "ECDSA"
    ? ({ name: "ECDSA", hash } as EcdsaParams)
    : ({ name: "RSASSA-PKCS1-v1_5", hash } as RsaHashedImportParams);
}

/** Web Crypto binds the hash to an RSA key: re-import the issuer key for another hash. */
async function signingKeyFor(issuerKeys: CryptoKeyPair, hash: string): Promise<CryptoKey> {
  const alg = issuerKeys.privateKey.algorithm as RsaHashedKeyAlgorithm;
  if (alg.name !== "RSASSA-PKCS1-v1_5" || alg.hash.name === hash) return issuerKeys.privateKey;
  const pkcs8 = await subtle.exportKey("pkcs8", issuerKeys.privateKey);
  return subtle.importKey("pkcs8", pkcs8, { name: "RSASSA-PKCS1-v1_5", hash }, false, ["sign"]);
}

/** Creates a self-signed CA certificate. */
export async function createRootCa(
  name = "CN=Contoso Test Root CA,O=Contoso Test",
  opts: { key?: KeyKind; slot?: number; notBefore?: Date; notAfter?: Date } = {},
): Promise<TestCa> {
  const keys = await testKey(opts.key ?? "rsa2048", opts.slot ?? 100);
  const cert = await X509CertificateGenerator.createSelfSigned({
    serialNumber: nextSerial(),
    name,
    keys,
    notBefore: opts.notBefore ?? daysFrom(NOW, -3650),
    notAfter: opts.notAfter ?? daysFrom(NOW, 3650),
    signingAlgorithm: signingParams(keys, "SHA-256"),
    extensions: [
      new BasicConstraintsExtension(true, 2, true),
      new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
    ],
  });
  return { cert, keys, pem: cert.toString("pem") };
}

/** Creates a CA certificate signed by `issuer` (set `ca: false` to make a broken "intermediate"). */
export async function createIntermediateCa(
  issuer: TestCa,
  name = "CN=Contoso Test Issuing CA 1,O=Contoso Test",
  opts: { key?: KeyKind; slot?: number; ca?: boolean; notBefore?: Date; notAfter?: Date } = {},
): Promise<TestCa> {
  const keys = await testKey(opts.key ?? "rsa2048", opts.slot ?? 101);
  const cert = await X509CertificateGenerator.create({
    serialNumber: nextSerial(),
    subject: name,
    issuer: issuer.cert.subject,
    publicKey: keys.publicKey,
    signingKey: issuer.keys.privateKey,
    notBefore: opts.notBefore ?? daysFrom(NOW, -1000),
    notAfter: opts.notAfter ?? daysFrom(NOW, 1000),
    signingAlgorithm: signingParams(issuer.keys, "SHA-256"),
    extensions: [
      new BasicConstraintsExtension(opts.ca ?? true, 0, true),
      new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
    ],
  });
  return { cert, keys, pem: cert.toString("pem") };
}

/** A root CA and an issuing intermediate under it. */
export interface TestPki {
  root: TestCa;
  intermediate: TestCa;
}

let defaultPki: Promise<TestPki> | undefined;

/** The shared test PKI (root + intermediate), created once per process. */
export function testPki(): Promise<TestPki> {
  defaultPki ??= (async () => {
    const root = await createRootCa();
    return { root, intermediate: await createIntermediateCa(root) };
  })();
  return defaultPki;
}

/** Fluent builder for a leaf certificate; defaults: RSA 2048, SHA-256, issued by the test intermediate, 90 days around NOW. */
export class LeafBuilder {
  private sans: JsonGeneralName[] = [{ type: "dns", value: "api.contoso.test" }];
  private noSanExtension = false;
  private cn = "api.contoso.test";
  private key: KeyKind = "rsa2048";
  private keySlot = 0;
  private hash: SignatureHash = "SHA-256";
  private notBefore = daysFrom(NOW, -1);
  private notAfter = daysFrom(NOW, 89);
  private issuer: TestCa | "intermediate" | "root" | "self" = "intermediate";
  private ekus: string[] | undefined = ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"];

  /** DNS names in the subjectAltName extension (replaces the default). */
  withDnsNames(...names: string[]): this {
    this.sans = names.map((value) => ({ type: "dns", value }));
    this.noSanExtension = false;
    return this;
  }
  /** IP addresses added to the subjectAltName extension. */
  withIpAddresses(...ips: string[]): this {
    this.sans = [...this.sans, ...ips.map((value) => ({ type: "ip" as const, value }))];
    return this;
  }
  /** Leaves out the subjectAltName extension entirely. */
  withoutSubjectAltName(): this {
    this.noSanExtension = true;
    return this;
  }
  /** Subject common name. */
  withCommonName(cn: string): this {
    this.cn = cn;
    return this;
  }
  /** Key kind of the leaf, and a slot to get a distinct key of the same kind. */
  withKey(kind: KeyKind, slot = 0): this {
    this.key = kind;
    this.keySlot = slot;
    return this;
  }
  /** Hash the issuer signs with. */
  signedWith(hash: SignatureHash): this {
    this.hash = hash;
    return this;
  }
  /** Validity window. */
  validBetween(notBefore: Date, notAfter: Date): this {
    this.notBefore = notBefore;
    this.notAfter = notAfter;
    return this;
  }
  /** Issuer: the shared intermediate (default), the shared root, another CA, or the leaf itself. */
  issuedBy(issuer: TestCa | "intermediate" | "root" | "self"): this {
    this.issuer = issuer;
    return this;
  }
  /** Extended key usages (OIDs); `undefined` leaves the extension out. */
  withExtendedKeyUsages(ekus: string[] | undefined): this {
    this.ekus = ekus;
    return this;
  }

  /** Issues the certificate. */
  async build(): Promise<BuiltLeaf> {
    const pki = await testPki();
    const keys = await testKey(this.key, this.keySlot);
    const issuer =
      this.issuer === "intermediate" ? pki.intermediate : this.issuer === "root" ? pki.root : this.issuer;
    const intermediates = issuer === "self" || issuer === pki.root ? [] : [issuer.cert];
    const subject = `CN=${this.cn},O=Contoso Test`;
    const extensions: Extension[] = [new BasicConstraintsExtension(false, undefined, true)];
    if (!this.noSanExtension) extensions.push(new SubjectAlternativeNameExtension(this.sans));
    if (this.ekus) extensions.push(new ExtendedKeyUsageExtension(this.ekus));

    let cert: X509Certificate;
    if (this.hash === "MD5") {
      cert = await md5Certificate(subject, keys, issuer === "self" ? { keys, name: subject } : issuer, this);
    } else if (issuer === "self") {
      const signingKey = await signingKeyFor(keys, this.hash);
      cert = await X509CertificateGenerator.createSelfSigned({
        serialNumber: nextSerial(),
        name: subject,
        keys: { publicKey: keys.publicKey, privateKey: signingKey },
        notBefore: this.notBefore,
        notAfter: this.notAfter,
        signingAlgorithm: signingParams(keys, this.hash),
        extensions,
      });
    } else {
      cert = await X509CertificateGenerator.create({
        serialNumber: nextSerial(),
        subject,
        issuer: issuer.cert.subject,
        publicKey: keys.publicKey,
        signingKey: await signingKeyFor(issuer.keys, this.hash),
        notBefore: this.notBefore,
        notAfter: this.notAfter,
        signingAlgorithm: signingParams(issuer.keys, this.hash),
        extensions,
      });
    }
    const pem = cert.toString("pem");
    return {
      cert,
      pem,
      der: new Uint8Array(cert.rawData),
      keys,
      intermediates,
      chainPem: [pem, ...intermediates.map((c) => c.toString("pem"))].join("\n"),
    };
  }

  /** @internal read by the MD5 path */
  get window(): { notBefore: Date; notAfter: Date; sans: JsonGeneralName[] } {
    return { notBefore: this.notBefore, notAfter: this.notAfter, sans: this.sans };
  }
}

/** A new leaf builder with the defaults documented on {@link LeafBuilder}. */
export const aLeaf = (): LeafBuilder => new LeafBuilder();

async function toForgeKey(privateKey: CryptoKey): Promise<forge.pki.rsa.PrivateKey> {
  const pkcs8 = Buffer.from(await subtle.exportKey("pkcs8", privateKey));
  const pem = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" })
    .export({ format: "pem", type: "pkcs8" })
    .toString();
  return forge.pki.privateKeyFromPem(pem);
}

/** Web Crypto cannot sign with MD5; node-forge can (RSA only). */
async function md5Certificate(
  subject: string,
  keys: CryptoKeyPair,
  issuer: TestCa | { keys: CryptoKeyPair; name: string },
  b: LeafBuilder,
): Promise<X509Certificate> {
  const leafKey = await toForgeKey(keys.privateKey);
  const issuerKey = await toForgeKey(issuer.keys.privateKey);
  const c = forge.pki.createCertificate();
  c.publicKey = forge.pki.setRsaPublicKey(leafKey.n, leafKey.e);
  c.serialNumber = nextSerial();
  c.validity.notBefore = b.window.notBefore;
  c.validity.notAfter = b.window.notAfter;
  const attrs = (dn: string) =>
    dn.split(",").map((part) => {
      const [k, v] = part.split("=");
      return { shortName: k?.trim(), value: v?.trim() };
    });
  c.setSubject(attrs(subject));
  c.setIssuer(attrs("cert" in issuer ? issuer.cert.subject : issuer.name));
  c.setExtensions([
    {
      name: "subjectAltName",
      altNames: b.window.sans.map((s) =>
        s.type === "dns" ? { type: 2, value: s.value } : { type: 7, ip: s.value },
      ),
    },
  ]);
  c.sign(issuerKey, forge.md.md5.create());
  return new X509Certificate(forge.pki.certificateToPem(c));
}
