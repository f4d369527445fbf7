/**
 * Certificate policies: the service defaults filled into a create or import request, PATCH
 * semantics, the key parameters a policy asks for (with Key Vault's BadParameter answers), the
 * certificate request a policy describes and when its lifetime actions trigger.
 */
import { badParameter } from "./core/errors.js";
import type { CertificateRequestParams, KeyParams } from "./crypto.js";
import type { ImportedMaterial } from "./material.js";
import {
  CLIENT_AUTH,
  PEM,
  PKCS12,
  SERVER_AUTH,
  epoch,
  type WireLifetimeAction,
  type WirePolicy,
} from "./wire.js";

/** One day in ms. */
export const DAY = 86_400_000;

function addMonths(d: Date, months: number): Date {
  const out = new Date(d.getTime());
  out.setUTCMonth(out.getUTCMonth() + months);
  return out;
}

/** Fills the service defaults into a (partial) policy from a create or import request. */
export function completePolicy(
  input: Partial<WirePolicy> | undefined,
  now: Date,
  base?: WirePolicy,
): WirePolicy {
  const p = input ?? {};
  const issuerName = p.issuer?.name ?? base?.issuer.name ?? "Self";
  const defaultAction = issuerName === "Unknown" ? "EmailContacts" : "AutoRenew";
  return {
    key_props: {
      exportable: p.key_props?.exportable ?? base?.key_props.exportable ?? true,
      kty: p.key_props?.kty ?? base?.key_props.kty ?? "RSA",
      ...((p.key_props?.kty ?? base?.key_props.kty ?? "RSA").startsWith("EC")
        ? { crv: p.key_props?.crv ?? base?.key_props.crv ?? "P-256" }
        : { key_size: p.key_props?.key_size ?? base?.key_props.key_size ?? 2048 }),
      reuse_key: p.key_props?.reuse_key ?? base?.key_props.reuse_key ?? false,
    },
    secret_props: { contentType: p.secret_props?.contentType ?? base?.secret_props.contentType ?? PKCS12 },
    x509_props: {
      subject: p.x509_props?.subject ?? base?.x509_props.subject ?? "CN=DefaultPolicy",
      sans: p.x509_props?.sans ?? base?.x509_props.sans,
      ekus: p.x509_props?.ekus ?? base?.x509_props.ekus ?? [SERVER_AUTH, CLIENT_AUTH],
      key_usage: p.x509_props?.key_usage ??
        base?.x509_props.key_usage ?? ["digitalSignature", "keyEncipherment"],
      validity_months: p.x509_props?.validity_months ?? base?.x509_props.validity_months ?? 12,
      basic_constraints: { ca: false },
    },
    lifetime_actions: p.lifetime_actions ??
      base?.lifetime_actions ?? [
        { trigger: { lifetime_percentage: 80 }, action: { action_type: defaultAction } },
      ],
    issuer: {
      name: issuerName,
      ...((p.issuer?.cty ?? base?.issuer.cty) ? { cty: p.issuer?.cty ?? base?.issuer.cty } : {}),
      ...(p.issuer?.cert_transparency !== undefined || base?.issuer.cert_transparency !== undefined
        ? { cert_transparency: p.issuer?.cert_transparency ?? base?.issuer.cert_transparency }
        : {}),
    },
    attributes: {
      enabled: p.attributes?.enabled ?? base?.attributes.enabled ?? true,
      created: base?.attributes.created ?? epoch(now),
      updated: epoch(now),
    },
  };
}

/** PATCH semantics of the policy: each given section is merged into the current one. */
export function mergePolicy(current: WirePolicy, patch: Partial<WirePolicy>, now: Date): WirePolicy {
  const next: WirePolicy = {
    key_props: { ...current.key_props, ...patch.key_props },
    secret_props: { ...current.secret_props, ...patch.secret_props },
    x509_props: { ...current.x509_props, ...patch.x509_props },
    lifetime_actions: patch.lifetime_actions ?? current.lifetime_actions,
    issuer: { ...current.issuer, ...patch.issuer },
    attributes: {
      ...current.attributes,
      ...patch.attributes,
      created: current.attributes.created,
      updated: epoch(now),
    },
  };
  if (next.key_props.kty.startsWith("EC")) {
    delete next.key_props.key_size;
    next.key_props.crv ??= "P-256";
  } else {
    delete next.key_props.crv;
    next.key_props.key_size ??= 2048;
  }
  return next;
}

/** The key a policy asks for; a key size or curve certificates cannot use is a BadParameter. */
export function keyParams(policy: WirePolicy): KeyParams {
  const kty = policy.key_props.kty.startsWith("EC") ? "EC" : "RSA";
  if (kty === "RSA" && ![2048, 3072, 4096].includes(policy.key_props.key_size ?? 2048)) {
    throw badParameter(`The key size ${policy.key_props.key_size} is not supported; use 2048, 3072 or 4096.`);
  }
  const crv = policy.key_props.crv ?? "P-256";
  if (kty === "EC" && !["P-256", "P-384", "P-521"].includes(crv)) {
    throw badParameter(`The curve ${crv} is not supported for certificates.`);
  }
  return { kty, keySize: policy.key_props.key_size ?? 2048, curve: crv as KeyParams["curve"] };
}

/** The certificate request a policy describes, valid from a minute before `now`. */
export function requestParams(policy: WirePolicy, now: Date): CertificateRequestParams {
  const notBefore = new Date(now.getTime() - 60_000);
  return {
    subject: policy.x509_props.subject,
    dnsNames: policy.x509_props.sans?.dns_names ?? [],
    ekus: policy.x509_props.ekus ?? [],
    keyUsage: policy.x509_props.key_usage ?? [],
    notBefore,
    notAfter: addMonths(notBefore, policy.x509_props.validity_months),
  };
}

/** The moment a lifetime action triggers for a version. */
export function triggerTime(action: WireLifetimeAction, nbf: number, exp: number): number | undefined {
  if (action.trigger.lifetime_percentage !== undefined)
    return nbf + ((exp - nbf) * action.trigger.lifetime_percentage) / 100;
  if (action.trigger.days_before_expiry !== undefined) return exp - action.trigger.days_before_expiry * DAY;
  return undefined;
}

/**
 * The policy of an imported certificate: key, subject, names and validity come from the material,
 * the rest from the request (issuer `Unknown`, EmailContacts at 80% by default).
 */
export function importedPolicy(
  requested: Partial<WirePolicy> | undefined,
  material: Pick<ImportedMaterial, "isPem" | "facts" | "key">,
  existing: WirePolicy | undefined,
  now: Date,
): WirePolicy {
  const { facts, key: kp, isPem } = material;
  return completePolicy(
    {
      ...requested,
      key_props: {
        exportable: requested?.key_props?.exportable ?? existing?.key_props.exportable ?? true,
        kty: kp.kty,
        ...(kp.kty === "EC" ? { crv: kp.curve } : { key_size: kp.keySize }),
        reuse_key: requested?.key_props?.reuse_key ?? false,
      },
      secret_props: { contentType: requested?.secret_props?.contentType ?? (isPem ? PEM : PKCS12) },
      x509_props: {
        subject: facts.subject,
        sans: facts.dnsNames.length ? { dns_names: facts.dnsNames } : undefined,
        ekus: requested?.x509_props?.ekus,
        key_usage: requested?.x509_props?.key_usage,
        validity_months: Math.max(
          1,
          Math.round((facts.notAfter.getTime() - facts.notBefore.getTime()) / (30.4 * DAY)),
        ),
      },
      issuer: { name: requested?.issuer?.name ?? "Unknown" },
      lifetime_actions: requested?.lifetime_actions ?? [
        { trigger: { lifetime_percentage: 80 }, action: { action_type: "EmailContacts" } },
      ],
    },
    now,
    existing,
  );
}
