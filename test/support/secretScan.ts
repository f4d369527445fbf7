/**
 * Scans text (Durable history, logs, audit rows, HTTP bodies) for a private key in any form it could
 * leak in: PEM (any line breaks, JSON-escaped or not), DER as base64 or base64url (PKCS#8 and the
 * traditional PKCS#1/SEC1 encodings), DER as hex (either case), and the JWK private parameters.
 * Partial leaks count: any run of `minLength` characters of a form's private parameters is a hit
 * (headers common to every key and the public modulus are not).
 */
import { createPrivateKey, type KeyObject } from "node:crypto";

/** The encodings a key is looked for in. */
export type KeyForm = "der-base64" | "der-base64url" | "der-hex" | "jwk";

/** One hit: which form, which encoding of the key, and where in the (normalised) text. */
export interface KeyLeak {
  form: KeyForm;
  /** `pkcs8`, `pkcs1`, `sec1` or the JWK parameter name. */
  encoding: string;
  /** Offset in the text after whitespace and escaped line breaks were removed. */
  index: number;
}

/** A form of the key: its text, and the character ranges of that text that hold private values. */
interface KeyFormText {
  form: KeyForm;
  encoding: string;
  value: string;
  /** [start, end) character ranges that encode private parameters (never the public modulus or headers). */
  secretRanges: [number, number][];
}

const PRIVATE_PARAMS = ["d", "p", "q", "dp", "dq", "qi"];

/**
 * The strings a key appears as, per form and encoding, with the ranges that hold its private
 * parameters (so headers shared by every key, and the public modulus, never count as a leak).
 */
export function privateKeyForms(key: string | KeyObject): KeyFormText[] {
  const k = typeof key === "string" ? createPrivateKey(key) : key;
  const jwk = k.export({ format: "jwk" }) as Record<string, unknown>;
  const secrets = PRIVATE_PARAMS.map((p) => jwk[p])
    .filter((v): v is string => typeof v === "string")
    .map((v) => Buffer.from(v, "base64url"))
    .filter((b) => b.length >= 16);
  const ders: { encoding: string; der: Buffer }[] = [
    { encoding: "pkcs8", der: k.export({ format: "der", type: "pkcs8" }) },
  ];
  if (k.asymmetricKeyType === "rsa")
    ders.push({ encoding: "pkcs1", der: k.export({ format: "der", type: "pkcs1" }) });
  if (k.asymmetricKeyType === "ec")
    ders.push({ encoding: "sec1", der: k.export({ format: "der", type: "sec1" }) });
  const forms: KeyFormText[] = [];
  for (const { encoding, der } of ders) {
    const byteRanges = secrets
      .map((b) => [der.indexOf(b), der.indexOf(b) + b.length] as [number, number])
      .filter(([s]) => s >= 0);
    const b64 = (r: [number, number]): [number, number] => [
      Math.ceil(r[0] / 3) * 4,
      Math.floor(r[1] / 3) * 4,
    ];
    forms.push({
      form: "der-base64",
      encoding,
      value: der.toString("base64"),
      secretRanges: byteRanges.map(b64),
    });
    forms.push({
      form: "der-base64url",
      encoding,
      value: der.toString("base64url"),
      secretRanges: byteRanges.map(b64),
    });
    forms.push({
      form: "der-hex",
      encoding,
      value: der.toString("hex"),
      secretRanges: byteRanges.map(([s, e]) => [s * 2, e * 2]),
    });
  }
  for (const p of PRIVATE_PARAMS) {
    const v = jwk[p];
    if (typeof v === "string" && v.length >= 16)
      forms.push({ form: "jwk", encoding: p, value: v, secretRanges: [[0, v.length]] });
  }
  return forms;
}

/** Removes whitespace and JSON-escaped line breaks, so a PEM body becomes its DER base64. */
export function normaliseForScan(text: string): string {
  return text.replace(/\\r|\\n|\\u000[aAdD]|\s/g, "");
}

/**
 * Every place the key (or a run of at least `minLength` characters of one of its forms) appears
 * in `text`. Default `minLength` 32: 192 bits of base64, 128 of hex — never a coincidence.
 */
export function findPrivateKeyLeaks(
  text: string,
  key: string | KeyObject,
  options: { minLength?: number } = {},
): KeyLeak[] {
  const n = options.minLength ?? 32;
  const hay = normaliseForScan(text);
  const hayLower = hay.toLowerCase();
  const leaks: KeyLeak[] = [];
  for (const f of privateKeyForms(key)) {
    const caseless = f.form === "der-hex";
    const value = caseless ? f.value.toLowerCase() : f.value;
    const target = caseless ? hayLower : hay;
    const windows = new Set<string>();
    for (const [from, to] of f.secretRanges)
      for (let i = from; i + n <= to; i += 1) windows.add(value.slice(i, i + n));
    if (windows.size === 0) continue;
    for (let i = 0; i + n <= target.length; i++) {
      if (windows.has(target.slice(i, i + n))) {
        leaks.push({ form: f.form, encoding: f.encoding, index: i });
        break;
      }
    }
  }
  return leaks;
}

/** Throws (naming the form and place, never the key) when `text` contains the key. */
export function assertNoPrivateKey(text: string, key: string | KeyObject, where: string): void {
  const leaks = findPrivateKeyLeaks(text, key);
  if (leaks.length) {
    throw new Error(
      `${where} contains the private key: ${leaks.map((l) => `${l.form}/${l.encoding} at ${l.index}`).join(", ")}.`,
    );
  }
}
