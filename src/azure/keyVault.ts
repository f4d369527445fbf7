/**
 * Key Vault through the SDKs: the public facts of a certificate version, its older versions, the
 * renewal operation, and — for the few activities that need it — the version's key material read
 * from its secret (PFX via node-forge, or PEM), handed to a callback and never returned.
 */
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from "node:crypto";
import forge from "node-forge";
import type { CertificateClient, KeyVaultCertificate } from "@azure/keyvault-certificates";
import type { SecretClient } from "@azure/keyvault-secrets";
import type { IssuerKind } from "../activities/contracts.js";

/** SHA-1 thumbprint bytes → upper-case hex. */
export const hexThumbprint = (bytes: Uint8Array | undefined): string | undefined =>
  bytes ? Buffer.from(bytes).toString("hex").toUpperCase() : undefined;

/** The kind of issuer a certificate policy names. */
export function issuerKind(issuerName: string | undefined): IssuerKind {
  if (!issuerName || issuerName.toLowerCase() === "unknown") return "Unknown";
  return issuerName.toLowerCase() === "self" ? "Self" : "Integrated";
}

/** The version segment of a Key Vault object id. */
export const versionOf = (c: Pick<KeyVaultCertificate, "properties">): string => c.properties.version ?? "";

/** A certificate version's material, alive only inside {@link withCertificateMaterial}'s callback. */
export interface CertificateMaterial {
  /** PEM certificates, leaf first, then the issuing chain as the vault holds it. */
  chainPem: string[];
  /** The private key, when the secret carries it (an exportable key). */
  key?: KeyObject;
  contentType: string;
}

/** Why material could not be read (a typed answer, never key bytes). */
export type MaterialProblem = { reason: "SecretUnreadable" | "SecretEmpty"; message: string };

function pemOf(der: Buffer): string {
  return new X509Certificate(der).toString();
}

/** Orders certificates leaf first, then each issuer in turn. */
function orderChain(certs: X509Certificate[], key?: KeyObject): X509Certificate[] {
  if (certs.length <= 1) return certs;
  const spki = (k: KeyObject) => k.export({ type: "spki", format: "der" }).toString("base64");
  const keySpki = key ? spki(createPublicKey(key)) : undefined;
  const leaf =
    (keySpki !== undefined ? certs.find((c) => spki(c.publicKey) === keySpki) : undefined) ??
    certs.find((c) => !c.ca) ??
    certs[0]!;
  const out = [leaf];
  const rest = certs.filter((c) => c !== leaf);
  while (rest.length) {
    const last = out[out.length - 1]!;
    const i = rest.findIndex((c) => last.checkIssued(c));
    if (i < 0) break;
    out.push(rest.splice(i, 1)[0]!);
  }
  return [...out, ...rest];
}

/** Reads a PKCS#12 (base64) or PEM secret value into certificates and key. Throws plain errors without content. */
export function parseSecretValue(value: string, contentType: string | undefined): CertificateMaterial {
  if ((contentType ?? "").toLowerCase().includes("pem") || value.trimStart().startsWith("-----BEGIN")) {
    const certBlocks = value.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    const keyBlock = /-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----[\s\S]*?-----END \1-----/.exec(
      value,
    );
    const key = keyBlock ? createPrivateKey(keyBlock[0]) : undefined;
    const certs = orderChain(
      certBlocks.map((b) => new X509Certificate(b)),
      key,
    );
    return {
      chainPem: certs.map((c) => c.toString()),
      ...(key ? { key } : {}),
      contentType: "application/x-pem-file",
    };
  }
  const der = forge.util.decode64(value);
  const p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(der), false, "");
  const oids = forge.pki.oids as Record<string, string>;
  const certBag = oids.certBag!;
  const shrouded = oids.pkcs8ShroudedKeyBag!;
  const plainKey = oids.keyBag!;
  const certs: X509Certificate[] = [];
  for (const bag of p12.getBags({ bagType: certBag })[certBag] ?? []) {
    if (bag.cert) {
      certs.push(
        new X509Certificate(
          Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(bag.cert)).getBytes(), "binary"),
        ),
      );
    } else if (bag.asn1) {
      certs.push(new X509Certificate(Buffer.from(forge.asn1.toDer(bag.asn1).getBytes(), "binary")));
    }
  }
  let key: KeyObject | undefined;
  const keyBags = [
    ...(p12.getBags({ bagType: shrouded })[shrouded] ?? []),
    ...(p12.getBags({ bagType: plainKey })[plainKey] ?? []),
  ];
  const kb = keyBags[0];
  if (kb?.key) {
    const pkcs8 = forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(kb.key));
    key = createPrivateKey({
      key: Buffer.from(forge.asn1.toDer(pkcs8).getBytes(), "binary"),
      format: "der",
      type: "pkcs8",
    });
  } else if (kb?.asn1) {
    // Non-RSA keys (EC) stay as ASN.1 in forge: hand the PrivateKeyInfo to Node.
    key = createPrivateKey({
      key: Buffer.from(forge.asn1.toDer(kb.asn1).getBytes(), "binary"),
      format: "der",
      type: "pkcs8",
    });
  }
  const ordered = orderChain(certs, key);
  return {
    chainPem: ordered.map((c) => pemOf(Buffer.from(c.raw))),
    ...(key ? { key } : {}),
    contentType: "application/x-pkcs12",
  };
}

/**
 * Reads a version's secret and runs `use` with its material; the material is dropped afterwards.
 * Returns `use`'s result, or a typed problem when the secret cannot be read as a certificate.
 */
export async function withCertificateMaterial<T>(
  secrets: SecretClient,
  name: string,
  version: string,
  use: (m: CertificateMaterial) => Promise<T> | T,
): Promise<T | { problem: MaterialProblem }> {
  const secret = await secrets.getSecret(name, { version });
  if (!secret.value) {
    return { problem: { reason: "SecretEmpty", message: `The secret of ${name}/${version} has no value.` } };
  }
  let material: CertificateMaterial;
  try {
    material = parseSecretValue(secret.value, secret.properties.contentType);
  } catch {
    return {
      problem: {
        reason: "SecretUnreadable",
        message: `The secret of ${name}/${version} (${secret.properties.contentType ?? "no content type"}) is not a readable PFX or PEM certificate.`,
      },
    };
  }
  return use(material);
}

/** Whether a private key belongs to a certificate (same public key). */
export function keyMatches(key: KeyObject, certPem: string): boolean {
  const a = createPublicKey(key).export({ type: "spki", format: "der" });
  const b = new X509Certificate(certPem).publicKey.export({ type: "spki", format: "der" });
  return Buffer.compare(a, b) === 0;
}

/** The key as PKCS#8 PEM, for a Secret write only. */
export const keyPem = (key: KeyObject): string => key.export({ type: "pkcs8", format: "pem" }).toString();

/** Older versions, newest first (at most `limit`), with their thumbprints. */
export async function previousVersions(
  client: CertificateClient,
  name: string,
  current: string,
  limit = 10,
): Promise<{ version: string; thumbprint: string; createdOn?: Date }[]> {
  const all: { version: string; thumbprint: string; createdOn?: Date }[] = [];
  for await (const p of client.listPropertiesOfCertificateVersions(name)) {
    const t = hexThumbprint(p.x509Thumbprint);
    if (!p.version || !t || p.version === current) continue;
    all.push({ version: p.version, thumbprint: t, ...(p.createdOn ? { createdOn: p.createdOn } : {}) });
  }
  all.sort((a, b) => (b.createdOn?.getTime() ?? 0) - (a.createdOn?.getTime() ?? 0));
  return all.slice(0, limit);
}

/** The version of a certificate whose leaf has `thumbprint` (hex, any case), if the vault holds one. */
export async function versionWithThumbprint(
  client: CertificateClient,
  name: string,
  thumbprint: string,
): Promise<string | undefined> {
  for await (const p of client.listPropertiesOfCertificateVersions(name)) {
    if (p.version && hexThumbprint(p.x509Thumbprint) === thumbprint.toUpperCase()) return p.version;
  }
  return undefined;
}
