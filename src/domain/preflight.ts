/**
 * Preflight: the checks a candidate certificate must pass before anything is touched. Each check
 * is a small named pure function answering `{ reason, message }` or nothing; {@link runPreflight}
 * runs them all (so every problem is reported, not only the first) and gives a verdict.
 *
 * Inputs are public facts only. The activity that can see key material computes `key.matches` and
 * `key.exportable` and reads the certificates into {@link CandidateCertificate} facts; the private
 * key never reaches this module.
 */
import { isIP } from "node:net";
import {
  acceptsEcKey,
  bindingId,
  describeBinding,
  namesToCover,
  normaliseHostName,
  requiresExportableKey,
  type Binding,
} from "./bindings.js";
import {
  ExtendedKeyUsageOids,
  normaliseThumbprint,
  type CandidateCertificate,
  type CertificateInfo,
} from "./x509.js";

/** Machine reasons preflight can answer with. */
export type PreflightReason =
  | "NotYetValid"
  | "Expired"
  | "ExpiresTooSoon"
  | "SanMismatch"
  | "KeyTooWeak"
  | "KeyTypeUnsupported"
  | "EcKeyNotSupportedByTarget"
  | "WeakSignatureAlgorithm"
  | "ChainIncomplete"
  | "ChainUntrusted"
  | "ChainInvalid"
  | "ChainCertificateNotValid"
  | "ExtendedKeyUsageMismatch"
  | "KeyMismatch"
  | "KeyNotExportable"
  | "AlreadyDeployed";

/** One check's answer: a machine reason and a human sentence (the same pair goes to logs, status and HTTP). */
export interface Finding {
  reason: PreflightReason;
  message: string;
}

/** Thresholds of the checks. */
export interface PreflightPolicy {
  /** A candidate must stay valid at least this many days from now (`PREFLIGHT_MIN_VALIDITY_DAYS`). */
  minimumRemainingDays: number;
  /** Smallest RSA modulus accepted. */
  minimumRsaBits: number;
  /** EC curves accepted. */
  allowedCurves: readonly string[];
  /** Signature hashes refused. */
  forbiddenSignatureHashes: readonly string[];
}

/**
 * The key and signature rules every candidate must meet: fixed by the product, no app setting changes
 * them (a caller may still pass stricter ones). The validity window is not here: it is the app
 * setting `PREFLIGHT_MIN_VALIDITY_DAYS`, which the caller passes.
 */
export const KEY_RULES: Omit<PreflightPolicy, "minimumRemainingDays"> = {
  minimumRsaBits: 2048,
  allowedCurves: ["P-256", "P-384"],
  forbiddenSignatureHashes: ["MD2", "MD5", "SHA-1"],
};

/** What a binding currently serves or has configured, by thumbprint (`undefined` when unknown). */
export interface DeployedThumbprint {
  bindingId: string;
  thumbprint?: string;
}

/** Everything preflight looks at. */
export interface PreflightInput {
  candidate: CandidateCertificate;
  /** Facts about the private key, computed where the key is (never the key itself). */
  key: {
    /**
     * Whether the private key matches the certificate's public key; `undefined` when it could not
     * be compared (a non-exportable key stays in Key Vault, which pairs it with the certificate).
     */
    matches?: boolean;
    /** Whether Key Vault lets the private key be exported (policy `exportable`). */
    exportable: boolean;
  };
  /** The bindings the rollout will touch. */
  bindings: readonly Binding[];
  /** What each binding has now; used to recognise a certificate that is already deployed. */
  deployed?: readonly DeployedThumbprint[];
  /** The validity window, required; the {@link KEY_RULES} unless given. */
  policy: Pick<PreflightPolicy, "minimumRemainingDays"> & Partial<PreflightPolicy>;
}

/** {@link PreflightInput} with the policy resolved, as each check sees it. */
export type ResolvedPreflightInput = Omit<PreflightInput, "policy"> & { policy: PreflightPolicy };

/** A preflight check: pure, named, answers a finding or nothing. */
export type PreflightCheck = (input: ResolvedPreflightInput, now: Date) => Finding | undefined;

const DAY_MS = 86_400_000;
const days = (ms: number) => Math.floor(ms / DAY_MS);

// --------------------------------------------------------------------------------------------
// Name matching (RFC 6125)

/**
 * Whether a DNS name presented in a certificate matches a host name, per RFC 6125 §6.4: case-
 * insensitive; a wildcard only as the whole left-most label, standing for exactly one label, and
 * never over fewer than two remaining labels (`*.test` matches nothing). A bound host that is
 * itself a wildcard (`*.contoso.com` on Front Door) needs that same wildcard in the certificate.
 */
export function dnsNameMatches(presented: string, host: string): boolean {
  const p = normaliseHostName(presented);
  const h = normaliseHostName(host);
  if (p === "" || h === "") return false;
  if (h.startsWith("*.")) return p === h;
  if (!p.includes("*")) return p === h;
  if (!p.startsWith("*.")) return false;
  const suffix = p.slice(2);
  if (suffix.includes("*") || suffix.split(".").length < 2) return false;
  const dot = h.indexOf(".");
  return dot > 0 && h.slice(dot + 1) === suffix;
}

/**
 * Whether a certificate covers a host name: IP literals against IP SANs; DNS names against DNS
 * SANs, or against the CN only when the certificate has no subjectAltName extension at all.
 */
export function certificateCoversHost(cert: CertificateInfo, host: string): boolean {
  const h = normaliseHostName(host);
  if (isIP(h.replace(/^\[|\]$/g, ""))) {
    return cert.ipAddresses.some((ip) => ip.toLowerCase() === h.replace(/^\[|\]$/g, ""));
  }
  const presented = cert.hasSubjectAltName ? cert.dnsNames : cert.commonName ? [cert.commonName] : [];
  return presented.some((p) => dnsNameMatches(p, h));
}

// --------------------------------------------------------------------------------------------
// The checks

/** The candidate is inside its validity window now, and stays valid long enough. */
export const validityWindow: PreflightCheck = ({ candidate: { leaf }, policy }, now) => {
  const nb = new Date(leaf.notBefore);
  const na = new Date(leaf.notAfter);
  if (now < nb) {
    return {
      reason: "NotYetValid",
      message: `The certificate is not valid before ${leaf.notBefore} (now is ${now.toISOString()}).`,
    };
  }
  if (now >= na) {
    return { reason: "Expired", message: `The certificate expired at ${leaf.notAfter}.` };
  }
  const left = na.getTime() - now.getTime();
  if (left < policy.minimumRemainingDays * DAY_MS) {
    return {
      reason: "ExpiresTooSoon",
      message: `The certificate expires at ${leaf.notAfter}, in ${days(left)} days; at least ${policy.minimumRemainingDays} are required.`,
    };
  }
  return undefined;
};

/** Every host name a binding serves is covered by the certificate's names. */
export const subjectAltNamesCoverHosts: PreflightCheck = ({ candidate: { leaf }, bindings }) => {
  const missing = new Map<string, string[]>();
  for (const b of bindings) {
    for (const host of namesToCover(b)) {
      if (!certificateCoversHost(leaf, host))
        missing.set(host, [...(missing.get(host) ?? []), describeBinding(b)]);
    }
  }
  if (missing.size === 0) return undefined;
  const names = leaf.hasSubjectAltName
    ? [...leaf.dnsNames, ...leaf.ipAddresses]
    : leaf.commonName
      ? [`CN=${leaf.commonName}`]
      : [];
  return {
    reason: "SanMismatch",
    message: `The certificate (names: ${names.join(", ") || "none"}) does not cover ${[...missing.keys()].join(", ")}, served by ${[...new Set([...missing.values()].flat())].join("; ")}.`,
  };
};

/** RSA keys are long enough; EC keys are on an accepted curve; nothing else is accepted. */
export const keyStrength: PreflightCheck = ({ candidate: { leaf }, policy }) => {
  const k = leaf.key;
  if (k.type === "RSA") {
    return k.bits < policy.minimumRsaBits
      ? {
          reason: "KeyTooWeak",
          message: `The RSA key has ${k.bits} bits; at least ${policy.minimumRsaBits} are required.`,
        }
      : undefined;
  }
  if (k.type === "EC") {
    return policy.allowedCurves.includes(k.curve)
      ? undefined
      : {
          reason: "KeyTypeUnsupported",
          message: `The EC key is on curve ${k.curve}; accepted curves are ${policy.allowedCurves.join(", ")}.`,
        };
  }
  return {
    reason: "KeyTypeUnsupported",
    message: `The key algorithm ${k.algorithm} is not supported; use RSA or EC.`,
  };
};

/** No target that accepts only RSA (Front Door) is bound to an EC certificate. */
export const targetsAcceptKeyType: PreflightCheck = ({ candidate: { leaf }, bindings }) => {
  if (leaf.key.type !== "EC") return undefined;
  const refusing = bindings.filter((b) => !acceptsEcKey(b));
  if (refusing.length === 0) return undefined;
  return {
    reason: "EcKeyNotSupportedByTarget",
    message: `The certificate has an EC key, which ${refusing.map(describeBinding).join("; ")} does not accept (Front Door takes RSA only).`,
  };
};

/** The leaf is not signed with a broken hash. */
export const signatureAlgorithm: PreflightCheck = ({ candidate: { leaf }, policy }) =>
  policy.forbiddenSignatureHashes.includes(leaf.signature.hash)
    ? {
        reason: "WeakSignatureAlgorithm",
        message: `The certificate is signed with ${leaf.signature.algorithm} (${leaf.signature.hash}), which is refused.`,
      }
    : undefined;

/** The chain reaches a root: no intermediate is missing. */
export const chainComplete: PreflightCheck = ({ candidate: { chain } }) =>
  chain.status === "incomplete" ? { reason: "ChainIncomplete", message: chain.detail } : undefined;

/** The root the chain reaches is one the targets trust. */
export const chainTrusted: PreflightCheck = ({ candidate: { chain } }) =>
  chain.status === "untrusted" ? { reason: "ChainUntrusted", message: chain.detail } : undefined;

/** Every signature on the path verifies and every issuer is a CA. */
export const chainValid: PreflightCheck = ({ candidate: { chain } }) =>
  chain.status === "invalid" ? { reason: "ChainInvalid", message: chain.detail } : undefined;

/** Every issuer on the path is inside its own validity window now. */
export const chainCertificatesCurrent: PreflightCheck = ({ candidate: { chain } }, now) => {
  const stale = chain.path
    .slice(1)
    .filter((c) => now < new Date(c.notBefore) || now >= new Date(c.notAfter))
    .map((c) => `"${c.subject}" (valid ${c.notBefore} to ${c.notAfter})`);
  return stale.length
    ? { reason: "ChainCertificateNotValid", message: `The issuer ${stale.join(", ")} is not valid now.` }
    : undefined;
};

/** When the leaf restricts its usage, it allows serving TLS (and client auth for client certificates). */
export const extendedKeyUsage: PreflightCheck = ({ candidate: { leaf }, bindings }) => {
  if (leaf.extendedKeyUsages.length === 0) return undefined;
  const needsServer = bindings.some((b) => namesToCover(b).length > 0);
  const needsClient = bindings.some((b) => b.kind === "apimCertificate");
  const missing = [
    ...(needsServer && !leaf.extendedKeyUsages.includes(ExtendedKeyUsageOids.serverAuth)
      ? ["serverAuth"]
      : []),
    ...(needsClient && !leaf.extendedKeyUsages.includes(ExtendedKeyUsageOids.clientAuth)
      ? ["clientAuth"]
      : []),
  ];
  return missing.length
    ? {
        reason: "ExtendedKeyUsageMismatch",
        message: `The certificate's extended key usage lacks ${missing.join(" and ")}, which its bindings need.`,
      }
    : undefined;
};

/** The private key belongs to the certificate. */
export const keyMatchesCertificate: PreflightCheck = ({ key }) =>
  key.matches === false
    ? {
        reason: "KeyMismatch",
        message: "The private key in the vault secret does not match the certificate's public key.",
      }
    : undefined;

/** A target that needs the private key (a Kubernetes TLS Secret) can have it. */
export const keyExportable: PreflightCheck = ({ key, bindings }) => {
  if (key.exportable) return undefined;
  const needing = bindings.filter(requiresExportableKey);
  return needing.length
    ? {
        reason: "KeyNotExportable",
        message: `The certificate's key is not exportable, but ${needing.map(describeBinding).join("; ")} needs it.`,
      }
    : undefined;
};

/** The candidate differs from what is deployed somewhere (otherwise there is nothing to do). */
export const differsFromDeployed: PreflightCheck = ({ candidate: { leaf }, bindings, deployed }) => {
  if (bindings.length === 0 || !deployed) return undefined;
  const byId = new Map(deployed.map((d) => [d.bindingId, d.thumbprint]));
  const same = bindings.every((b) => {
    const t = byId.get(bindingId(b));
    return t !== undefined && normaliseThumbprint(t) === leaf.thumbprint;
  });
  return same
    ? {
        reason: "AlreadyDeployed",
        message: `Every binding already has the certificate with thumbprint ${leaf.thumbprint}; nothing to roll out.`,
      }
    : undefined;
};

/** The checks that reject a candidate, in the order they are reported. */
export const PREFLIGHT_CHECKS: readonly { name: string; check: PreflightCheck }[] = [
  { name: "validityWindow", check: validityWindow },
  { name: "subjectAltNamesCoverHosts", check: subjectAltNamesCoverHosts },
  { name: "keyStrength", check: keyStrength },
  { name: "targetsAcceptKeyType", check: targetsAcceptKeyType },
  { name: "signatureAlgorithm", check: signatureAlgorithm },
  { name: "chainComplete", check: chainComplete },
  { name: "chainTrusted", check: chainTrusted },
  { name: "chainValid", check: chainValid },
  { name: "chainCertificatesCurrent", check: chainCertificatesCurrent },
  { name: "extendedKeyUsage", check: extendedKeyUsage },
  { name: "keyMatchesCertificate", check: keyMatchesCertificate },
  { name: "keyExportable", check: keyExportable },
];

/** Preflight's verdict. */
export type PreflightVerdict =
  /** Every check passed: roll out. */
  | "Proceed"
  /** At least one check failed: touch nothing. */
  | "Rejected"
  /** Every check passed and every binding already has this certificate: nothing to do (not an error). */
  | "AlreadyDeployed";

/** The outcome of {@link runPreflight}. */
export interface PreflightResult {
  verdict: PreflightVerdict;
  /** Every failed check, in {@link PREFLIGHT_CHECKS} order. */
  failures: Finding[];
  /** Non-error outcomes (AlreadyDeployed). */
  notices: Finding[];
  /** Thumbprint of the candidate leaf. */
  thumbprint: string;
  /** Ids of bindings that already have the candidate (the rollout can skip them). */
  alreadyDeployed: string[];
}

/** Runs every preflight check at `now` and returns all failures with a verdict. Pure. */
export function runPreflight(input: PreflightInput, now: Date): PreflightResult {
  const resolved: ResolvedPreflightInput = {
    ...input,
    policy: { ...KEY_RULES, ...input.policy },
  };
  const failures = PREFLIGHT_CHECKS.map((c) => c.check(resolved, now)).filter(
    (f): f is Finding => f !== undefined,
  );
  const already = differsFromDeployed(resolved, now);
  const leafThumbprint = input.candidate.leaf.thumbprint;
  const alreadyDeployed = (input.deployed ?? [])
    .filter((d) => d.thumbprint !== undefined && normaliseThumbprint(d.thumbprint) === leafThumbprint)
    .map((d) => d.bindingId)
    .filter((id) => input.bindings.some((b) => bindingId(b) === id));
  return {
    verdict: failures.length > 0 ? "Rejected" : already ? "AlreadyDeployed" : "Proceed",
    failures,
    notices: already ? [already] : [],
    thumbprint: leafThumbprint,
    alreadyDeployed,
  };
}

/** One sentence summarising a rejected preflight, for reports and outcome events. */
export function summariseFailures(failures: readonly Finding[]): string {
  return failures.map((f) => `${f.reason}: ${f.message}`).join(" ");
}
