/**
 * Key and certificate work of the lab Key Vault: key pairs per policy, certificates signed by an
 * issuer (the lab CA, self-signed) or left as a CSR, PKCS#12 and PEM secret values, and parsing of
 * imported PFX/PEM material. Certificates are built with @peculiar/x509, read with node:crypto, and
 * PKCS#12 is encoded and decoded with node-forge primitives (forge's own PKCS#12 writer only knows
 * RSA keys, and Key Vault also issues EC certificates).
 */
import {
  X509Certificate,
  createHash,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  webcrypto,
} from "node:crypto";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import forge from "node-forge";
import type { CertificateAuthority } from "../core/pki.js";

type CryptoKeyPair = webcrypto.CryptoKeyPair;
type CryptoKey = webcrypto.CryptoKey;

/** Key parameters of a certificate policy (`key_props`), normalised. */
export interface KeyParams {
  kty: "RSA" | "EC";
  keySize: number;
  curve: "P-256" | "P-384" | "P-521";
}

/** What the policy's `x509_props` asks for. */
export interface CertificateRequestParams {
  subject: string;
  dnsNames: string[];
  /** EKU OIDs, e.g. 1.3.6.1.5.5.7.3.1 (serverAuth). */
  ekus: string[];
  keyUsage: string[];
  notBefore: Date;
  notAfter: Date;
}

export interface GeneratedKey {
  keys: CryptoKeyPair;
  /** PKCS#8 PEM. */
  keyPem: string;
}

const hashFor = (key: KeyParams) =>
  key.kty === "EC"
    ? key.curve === "P-384"
      ? "SHA-384"
      : key.curve === "P-521"
        ? "SHA-512"
        : "SHA-256"
    : "SHA-256";

function algorithmFor(key: KeyParams) {
  return key.kty === "EC"
    ? { name: "ECDSA", namedCurve: key.curve, hash: hashFor(key) }
    : {
        name: "RSASSA-PKCS1-v1_5",
        modulusLength: key.keySize,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: "SHA-256",
      };
}

/** Generates a key pair as the policy's `key_props` say. */
export async function generateKey(params: KeyParams): Promise<GeneratedKey> {
  const keys = await webcrypto.subtle.generateKey(algorithmFor(params), true, ["sign", "verify"]);
  const der = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { keys, keyPem: x509.PemConverter.encode(der, "PRIVATE KEY") };
}

/** Imports a stored PKCS#8 key back into WebCrypto (for CSR signing or re-use on renewal). */
export async function importKey(keyPem: string): Promise<CryptoKeyPair> {
  const key = createPrivateKey(keyPem);
  const details = key.asymmetricKeyDetails ?? {};
  const alg =
    key.asymmetricKeyType === "ec"
      ? { name: "ECDSA", namedCurve: curveName(details.namedCurve) }
      : { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  const privateKey = await webcrypto.subtle.importKey(
    "pkcs8",
    key.export({ type: "pkcs8", format: "der" }),
    alg,
    true,
    ["sign"],
  );
  const publicKey = await webcrypto.subtle.importKey(
    "spki",
    createPublicKey(key).export({ type: "spki", format: "der" }),
    alg,
    true,
    ["verify"],
  );
  return { privateKey, publicKey };
}

function curveName(nodeCurve: string | undefined): "P-256" | "P-384" | "P-521" {
  if (nodeCurve === "secp384r1") return "P-384";
  if (nodeCurve === "secp521r1") return "P-521";
  return "P-256";
}

const KEY_USAGE_FLAGS: Record<string, number> = {
  digitalSignature: x509.KeyUsageFlags.digitalSignature,
  nonRepudiation: x509.KeyUsageFlags.nonRepudiation,
  keyEncipherment: x509.KeyUsageFlags.keyEncipherment,
  dataEncipherment: x509.KeyUsageFlags.dataEncipherment,
  keyAgreement: x509.KeyUsageFlags.keyAgreement,
  keyCertSign: x509.KeyUsageFlags.keyCertSign,
  cRLSign: x509.KeyUsageFlags.cRLSign,
  encipherOnly: x509.KeyUsageFlags.encipherOnly,
  decipherOnly: x509.KeyUsageFlags.decipherOnly,
};

function serial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return Buffer.from(bytes).toString("hex");
}

async function leafExtensions(
  publicKey: CryptoKey,
  req: CertificateRequestParams,
): Promise<x509.Extension[]> {
  const usage = req.keyUsage.reduce((acc, u) => acc | (KEY_USAGE_FLAGS[u] ?? 0), 0);
  return [
    new x509.BasicConstraintsExtension(false, undefined, true),
    ...(usage ? [new x509.KeyUsagesExtension(usage, true)] : []),
    ...(req.ekus.length ? [new x509.ExtendedKeyUsageExtension(req.ekus)] : []),
    ...(req.dnsNames.length
      ? [
          new x509.SubjectAlternativeNameExtension(
            req.dnsNames.map((d) => ({ type: "dns" as const, value: d })),
          ),
        ]
      : []),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
  ];
}

function signingAlgorithm(key: CryptoKey) {
  const alg = key.algorithm as { name: string; namedCurve?: string };
  if (alg.name === "ECDSA") {
    return {
      name: "ECDSA",
      hash: alg.namedCurve === "P-384" ? "SHA-384" : alg.namedCurve === "P-521" ? "SHA-512" : "SHA-256",
    };
  }
  return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
}

/** Issues a leaf for `keys` signed by `ca`; returns the leaf PEM. */
export async function issueWithCa(
  ca: CertificateAuthority,
  keys: CryptoKeyPair,
  req: CertificateRequestParams,
): Promise<string> {
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: req.subject,
    issuer: ca.certificate.subject,
    notBefore: req.notBefore,
    notAfter: req.notAfter,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: signingAlgorithm(ca.keys.privateKey),
    extensions: [
      ...(await leafExtensions(keys.publicKey, req)),
      await x509.AuthorityKeyIdentifierExtension.create(ca.certificate),
    ],
  });
  return cert.toString("pem");
}

/** A self-signed certificate (issuer `Self`). */
export async function selfSign(keys: CryptoKeyPair, req: CertificateRequestParams): Promise<string> {
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: req.subject,
    notBefore: req.notBefore,
    notAfter: req.notAfter,
    keys,
    signingAlgorithm: signingAlgorithm(keys.privateKey),
    extensions: await leafExtensions(keys.publicKey, req),
  });
  return cert.toString("pem");
}

/** A PKCS#10 CSR for `keys` (issuer `Unknown`); returns base64 DER as Key Vault's `csr` field. */
export async function createCsr(keys: CryptoKeyPair, req: CertificateRequestParams): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: req.subject,
    keys,
    signingAlgorithm: signingAlgorithm(keys.privateKey),
    extensions: (await leafExtensions(keys.publicKey, req)).filter(
      (e) => !(e instanceof x509.BasicConstraintsExtension),
    ),
  });
  return Buffer.from(csr.rawData).toString("base64");
}

/** Facts about a certificate that the wire and the in-process API need. */
export interface CertificateFacts {
  /** base64 DER (`cer`). */
  cer: string;
  /** base64url SHA-1 of the DER (`x5t`). */
  x5t: string;
  /** Upper-case hex SHA-1 (ARM `thumbprint`). */
  thumbprint: string;
  subject: string;
  dnsNames: string[];
  notBefore: Date;
  notAfter: Date;
  issuer: string;
}

/** Facts by certificate PEM: a stored version's certificate never changes, and the data plane reads them on every refresh. */
const factsCache = new Map<string, CertificateFacts>();

/** The public facts of a certificate (parsed once per PEM; each call gets its own copy). */
export function certificateFacts(certPem: string): CertificateFacts {
  let facts = factsCache.get(certPem);
  if (!facts) {
    facts = parseFacts(certPem);
    if (factsCache.size >= 5000) factsCache.clear();
    factsCache.set(certPem, facts);
  }
  return {
    ...facts,
    dnsNames: [...facts.dnsNames],
    notBefore: new Date(facts.notBefore),
    notAfter: new Date(facts.notAfter),
  };
}

function parseFacts(certPem: string): CertificateFacts {
  const cert = new X509Certificate(certPem);
  const der = cert.raw;
  const sha1 = createHash("sha1").update(der).digest();
  const dnsNames = (cert.subjectAltName ?? "")
    .split(/,\s*/)
    .filter((s) => s.startsWith("DNS:"))
    .map((s) => s.slice(4));
  return {
    cer: der.toString("base64"),
    x5t: sha1.toString("base64url"),
    thumbprint: sha1.toString("hex").toUpperCase(),
    subject: cert.subject.split("\n").join(", "),
    dnsNames,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    issuer: cert.issuer.split("\n").join(", "),
  };
}

/** True when `keyPem` is the private key of the certificate. */
export function keyMatches(certPem: string, keyPem: string): boolean {
  return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
}

/** Splits a PEM text into its certificate blocks. */
export function pemCertificates(text: string): string[] {
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map(
    (m) => `${m[0]}\n`,
  );
}

/** The private key block of a PEM text, normalised to PKCS#8, if any. */
export function pemPrivateKey(text: string): string | undefined {
  const m = /-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----[\s\S]+?-----END \1-----/.exec(text);
  if (!m) return undefined;
  return createPrivateKey(m[0]).export({ type: "pkcs8", format: "pem" }).toString();
}

const derToPem = (der: Buffer, label: string) =>
  `-----BEGIN ${label}-----\n${der
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .replace(/\n$/, "")}\n-----END ${label}-----\n`;

/** PEM secret value as Key Vault writes it: the private key first (when present), then the chain. */
export function buildPem(keyPem: string | undefined, chain: string[]): string {
  return [keyPem ? keyPem.trimEnd() + "\n" : "", ...chain.map((c) => c.trimEnd() + "\n")].join("");
}

const { asn1, pki } = forge;

function contentInfo(safeContents: forge.asn1.Asn1): forge.asn1.Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(pki.oids.data!).getBytes()),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, asn1.toDer(safeContents).getBytes()),
    ]),
  ]);
}

function localKeyIdAttributes(id: string): forge.asn1.Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(pki.oids.localKeyId!).getBytes()),
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, [
        asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, id),
      ]),
    ]),
  ]);
}

/**
 * A PKCS#12 (PFX) with the chain and, when given, the private key (PKCS#8 shrouded, AES-128 PBES2),
 * MAC'd with SHA-1 as Windows and OpenSSL expect. Key Vault's own PFX secrets have an empty password.
 * Returns the DER as base64.
 */
export function buildPfx(keyPem: string | undefined, chain: string[], password = ""): string {
  const certDers = chain.map((c) => new X509Certificate(c).raw);
  const localKeyId = certDers[0]
    ? createHash("sha1").update(certDers[0]).digest().toString("binary")
    : randomBytes(20).toString("binary");
  const certBags = certDers.map((der, i) =>
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(pki.oids.certBag!).getBytes()),
      asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [
        asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
          asn1.create(
            asn1.Class.UNIVERSAL,
            asn1.Type.OID,
            false,
            asn1.oidToDer(pki.oids.x509Certificate!).getBytes(),
          ),
          asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [
            asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, der.toString("binary")),
          ]),
        ]),
      ]),
      ...(i === 0 ? [localKeyIdAttributes(localKeyId)] : []),
    ]),
  );
  const contents = [contentInfo(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, certBags))];
  if (keyPem) {
    const pkcs8 = createPrivateKey(keyPem).export({ type: "pkcs8", format: "der" });
    const privateKeyInfo = asn1.fromDer(pkcs8.toString("binary"));
    const encrypted = pki.encryptPrivateKeyInfo(privateKeyInfo, password, {
      algorithm: "aes128",
      count: 2048,
      saltSize: 8,
    });
    const keyBag = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
      asn1.create(
        asn1.Class.UNIVERSAL,
        asn1.Type.OID,
        false,
        asn1.oidToDer(pki.oids.pkcs8ShroudedKeyBag!).getBytes(),
      ),
      asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [encrypted]),
      localKeyIdAttributes(localKeyId),
    ]);
    contents.push(contentInfo(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [keyBag])));
  }
  const safe = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, contents);
  const safeDer = asn1.toDer(safe).getBytes();
  const macSalt = new forge.util.ByteStringBuffer(randomBytes(8).toString("binary"));
  const count = 2048;
  const macKey = forge.pkcs12.generateKey(password, macSalt, 3, count, 20);
  const hmac = forge.hmac.create();
  hmac.start("sha1", macKey);
  hmac.update(safeDer);
  const macData = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
        asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(pki.oids.sha1!).getBytes()),
        asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, ""),
      ]),
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, hmac.digest().getBytes()),
    ]),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, macSalt.getBytes()),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(count).getBytes()),
  ]);
  const pfx = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(3).getBytes()),
    contentInfo(safe),
    macData,
  ]);
  return Buffer.from(asn1.toDer(pfx).getBytes(), "binary").toString("base64");
}

/** Certificates and key of a PFX (any key type), as PEM. Throws on a wrong password or a bad file. */
export function parsePfx(base64: string, password = ""): { keyPem?: string; chain: string[] } {
  const der = forge.util.decode64(base64.replace(/\s+/g, ""));
  const p12 = forge.pkcs12.pkcs12FromAsn1(asn1.fromDer(der), false, password);
  const chain: string[] = [];
  let keyPem: string | undefined;
  for (const safe of p12.safeContents) {
    for (const bag of safe.safeBags) {
      if (bag.type === pki.oids.certBag) {
        const certAsn1 = bag.cert ? pki.certificateToAsn1(bag.cert) : bag.asn1;
        if (certAsn1)
          chain.push(derToPem(Buffer.from(asn1.toDer(certAsn1).getBytes(), "binary"), "CERTIFICATE"));
      } else if (bag.type === pki.oids.pkcs8ShroudedKeyBag || bag.type === pki.oids.keyBag) {
        const info = bag.key ? pki.wrapRsaPrivateKey(pki.privateKeyToAsn1(bag.key)) : bag.asn1;
        if (info) keyPem = derToPem(Buffer.from(asn1.toDer(info).getBytes(), "binary"), "PRIVATE KEY");
      }
    }
  }
  return { keyPem, chain: orderChain(chain, keyPem) };
}

/** Puts the certificate that matches the key (or else the one no other certificate names as issuer) first. */
export function orderChain(chain: string[], keyPem?: string): string[] {
  if (chain.length < 2) return chain;
  let leafIndex = keyPem ? chain.findIndex((c) => keyMatches(c, keyPem)) : -1;
  if (leafIndex < 0) {
    const certs = chain.map((c) => new X509Certificate(c));
    leafIndex = certs.findIndex((c) => !certs.some((o) => o !== c && o.issuer === c.subject));
  }
  if (leafIndex <= 0) return chain;
  return [chain[leafIndex]!, ...chain.filter((_, i) => i !== leafIndex)];
}

/** Key parameters of an existing private key (for imported certificates' policies). */
export function keyParamsOf(keyOrCertPem: string): KeyParams {
  const key = /PRIVATE KEY/.test(keyOrCertPem)
    ? createPublicKey(createPrivateKey(keyOrCertPem))
    : new X509Certificate(keyOrCertPem).publicKey;
  const d = key.asymmetricKeyDetails ?? {};
  return key.asymmetricKeyType === "ec"
    ? { kty: "EC", keySize: 0, curve: curveName(d.namedCurve) }
    : { kty: "RSA", keySize: d.modulusLength ?? 2048, curve: "P-256" };
}

/** True when the certificate's public key is the CSR key (merge check). */
export function samePublicKey(certPem: string, keyPem: string): boolean {
  const a = new X509Certificate(certPem).publicKey.export({ type: "spki", format: "der" });
  const b = createPublicKey(createPrivateKey(keyPem)).export({ type: "spki", format: "der" });
  return Buffer.compare(a, b) === 0;
}

export const derBase64ToPem = (b64: string) => derToPem(Buffer.from(b64, "base64"), "CERTIFICATE");
