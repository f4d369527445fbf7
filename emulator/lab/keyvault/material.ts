/**
 * Reading certificate material a client sends: the PFX or PEM of an import, the `x5c` chain of a
 * merge. Each unreadable or mismatched input is the BadParameter Key Vault answers with.
 */
import { badParameter } from "./core/errors.js";
import {
  certificateFacts,
  derBase64ToPem,
  keyParamsOf,
  orderChain,
  parsePfx,
  pemCertificates,
  pemPrivateKey,
  samePublicKey,
  type CertificateFacts,
  type KeyParams,
} from "./crypto.js";
import { PEM } from "./wire.js";

/** The key and chain of an import request, with what its policy is derived from. */
export interface ImportedMaterial {
  /** True for PEM content (else base64 PKCS#12). */
  isPem: boolean;
  /** PKCS#8 PEM private key. */
  keyPem: string;
  /** Leaf first, then the chain. */
  chain: string[];
  /** Facts of the leaf. */
  facts: CertificateFacts;
  /** Key parameters of the private key. */
  key: KeyParams;
}

/**
 * Reads an import's `value` (PEM, or base64 PKCS#12 opened with `pwd`): it must hold a private key
 * and a certificate whose public key matches it.
 */
export function readImportedMaterial(
  value: unknown,
  pwd: string | undefined,
  contentType: string | undefined,
): ImportedMaterial {
  if (typeof value !== "string" || value.length === 0) throw badParameter("Property value is required.");
  const isPem = value.includes("-----BEGIN") || contentType === PEM;
  const { keyPem, chain } = isPem ? readPem(value) : readPfx(value, pwd ?? "");
  if (!keyPem || chain.length === 0)
    throw badParameter(
      "The specified X.509 certificate content does not contain a private key, or the key does not match the certificate.",
    );
  if (!samePublicKey(chain[0]!, keyPem))
    throw badParameter("The private key does not match the certificate.");
  return { isPem, keyPem, chain, facts: certificateFacts(chain[0]!), key: keyParamsOf(keyPem) };
}

function readPem(value: string): { keyPem?: string; chain: string[] } {
  try {
    const keyPem = pemPrivateKey(value);
    return { keyPem, chain: orderChain(pemCertificates(value), keyPem) };
  } catch {
    throw badParameter(
      "The specified PEM X.509 certificate content is in an unexpected format. Please check if certificate is in valid PEM format.",
    );
  }
}

function readPfx(value: string, password: string): { keyPem?: string; chain: string[] } {
  try {
    return parsePfx(value, password);
  } catch {
    throw badParameter(
      "The specified PKCS#12 X.509 certificate content can not be read. Please check if certificate is in valid PKCS#12 format.",
    );
  }
}

/**
 * Reads a merge's `x5c` (base64 DER, any order) into a chain, leaf first, whose leaf carries the
 * pending request's public key.
 */
export function readMergedChain(x5c: string[] | undefined, keyPem: string): string[] {
  if (!Array.isArray(x5c) || x5c.length === 0)
    throw badParameter("Property x5c is required and must contain at least one certificate.");
  let chain: string[];
  try {
    chain = orderChain(
      x5c.map((b) => derBase64ToPem(b)),
      keyPem,
    );
  } catch {
    throw badParameter("Property x5c contains a value that is not a valid X.509 certificate.");
  }
  if (!samePublicKey(chain[0]!, keyPem))
    throw badParameter("Public key from x509 certificate and key of this instance doesn't match");
  return chain;
}
