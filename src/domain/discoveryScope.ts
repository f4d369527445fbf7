/**
 * Which unread parts of discovery block a certificate's rollout. Discovery that could not read
 * something may have missed a binding; rolling out the rest would then skip a hop. But one
 * unreadable resource must not stop every certificate: it blocks only those it might bind.
 *
 * What "might bind" means, conservatively (a wrong "no" rolls out past a hidden hop):
 * - an unreadable APIM service or Front Door profile (its id known: it was named by its scope or
 *   listed) might bind any certificate, unless the bindings file declares what it can reference
 *   (`references: [{ resource, certificates: ["vault/name" | "vault/*"] }]`); then only those, plus
 *   any the bindings file itself binds there;
 * - anything without a resource id — a scope that could not be listed, a cluster that could not be
 *   reached, a namespace whose Secrets could not be listed (anyone who can create a Secret there
 *   can annotate it for any certificate), an unreadable or invalid bindings file — might bind any
 *   certificate and blocks every one.
 *
 * Pure: no I/O.
 */
import { normaliseArmId } from "./armIds.js";
import type { Binding, CertificateRef, DeclaredReferences } from "./bindings.js";
import type { Reasoned } from "./rollback.js";

/** A discovery warning; `resource` is the ARM id of the one resource it concerns, when there is one. */
export interface DiscoveryWarning extends Reasoned {
  resource?: string;
}

/** What {@link blockingWarnings} decides. */
export interface WarningSplit {
  /** Unread parts that might bind the certificate: its rollout must not proceed. */
  blocking: Reasoned[];
  /** Unread resources that cannot bind it (by the bindings file's `references`). */
  unrelated: Reasoned[];
}

const lower = (s: string) => s.trim().toLowerCase();

const sameResource = (a: string, b: string) => normaliseArmId(a) === normaliseArmId(b);

/** Whether a declared `{vault, name}` (name `*`: any) covers the certificate. */
const covers = (pattern: CertificateRef, ref: CertificateRef) =>
  lower(pattern.vaultName) === lower(ref.vaultName) &&
  (pattern.certificateName === "*" || lower(pattern.certificateName) === lower(ref.certificateName));

/** The ARM resource an explicit binding lives on (undefined for Kubernetes). */
const armResourceOf = (b: Binding): string | undefined =>
  b.kind === "frontDoorSecret"
    ? b.profileId
    : b.kind === "apimHostname" || b.kind === "apimCertificate"
      ? b.serviceId
      : undefined;

/** Whether the unread part named by `warning` might bind `ref` (see the module doc). */
export function mightBind(
  warning: DiscoveryWarning,
  ref: CertificateRef,
  declared: readonly DeclaredReferences[],
  explicit: readonly Binding[],
): boolean {
  const resource = warning.resource;
  if (!resource) return true;
  const declarations = declared.filter((d) => sameResource(d.resource, resource));
  if (declarations.length === 0) return true;
  if (declarations.some((d) => d.certificates.some((p) => covers(p, ref)))) return true;
  return explicit.some((b) => {
    const on = armResourceOf(b);
    return on !== undefined && sameResource(on, resource) && covers(b.certificate, ref);
  });
}

/** Splits discovery's warnings into those that block `ref`'s rollout and those that cannot concern it. */
export function blockingWarnings(
  warnings: readonly DiscoveryWarning[],
  ref: CertificateRef,
  declared: readonly DeclaredReferences[],
  explicit: readonly Binding[],
): WarningSplit {
  const split: WarningSplit = { blocking: [], unrelated: [] };
  for (const w of warnings) {
    const plain = { reason: w.reason, message: w.message };
    (mightBind(w, ref, declared, explicit) ? split.blocking : split.unrelated).push(plain);
  }
  return split;
}
