/**
 * Where a certificate may be written (`WRITE_POLICY`): an allow-list per vault or per certificate
 * of Kubernetes namespaces (`<cluster>/<namespace>`, `*` for any cluster), APIM services
 * (`apim:<name>`) and Front Door profiles (`frontDoor:<name>`). A binding outside it is not rolled
 * out to: it is ignored, and reports and the inventory name it.
 *
 * Anyone who may create a Secret in a scanned namespace can annotate it with any certificate, so
 * annotations alone never earn a private key. Without a rule for the certificate (or its vault):
 * - a Kubernetes `tls` Secret (it receives `tls.key`) is written only when the bindings file names
 *   it — the file is the operator's own allow-list; a Secret found by its annotation is ignored;
 * - a `ca` Secret (public CA certificates only) is written in the scanned namespaces, as discovered;
 * - APIM and Front Door targets in the configured scopes are written: no key passes through us, the
 *   service reads Key Vault with its own identity.
 * A rule restricts each kind of target it names (Kubernetes, APIM, Front Door) to what it names;
 * the kinds it does not name keep the default above. A certificate's own rule replaces its vault's.
 *
 * Pure.
 */
import { parseArmId } from "./armIds.js";
import { bindingId, describeBinding, type Binding, type CertificateRef } from "./bindings.js";

/** One allowed place: a Kubernetes namespace, an APIM service or a Front Door profile. */
export type WriteTarget =
  | { kind: "kubernetes"; cluster: string; namespace: string }
  | { kind: "apim"; service: string }
  | { kind: "frontDoor"; profile: string };

/** Rules by scope: `<vault>` or `<vault>/<certificate>`, lower-case. */
export type WritePolicy = ReadonlyMap<string, readonly WriteTarget[]>;

/** A binding left out by the policy, and why (what reports and the inventory show). */
export interface IgnoredBinding {
  bindingId: string;
  certificate: CertificateRef;
  description: string;
  reason: "OutsideWritePolicy";
  message: string;
}

/** Parses one target of a rule; undefined when it is none of the forms. */
export function parseWriteTarget(text: string): WriteTarget | undefined {
  const t = text.trim();
  const named = /^(apim|frontDoor):([A-Za-z0-9][A-Za-z0-9._-]*)$/i.exec(t);
  if (named) {
    const name = named[2]!.toLowerCase();
    return named[1]!.toLowerCase() === "apim"
      ? { kind: "apim", service: name }
      : { kind: "frontDoor", profile: name };
  }
  const ns = /^(\*|[A-Za-z0-9][A-Za-z0-9._-]*)\/([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)$/.exec(t);
  return ns ? { kind: "kubernetes", cluster: ns[1]!.toLowerCase(), namespace: ns[2]! } : undefined;
}

const lower = (s: string) => s.trim().toLowerCase();
/** The last segment of an ARM id (a cluster, service or profile name), or the value itself. */
const nameOf = (id: string) => lower(parseArmId(id)?.name ?? id.split("/").pop() ?? id);

/** The rule that applies to a certificate: its own, else its vault's, else none. */
function ruleFor(policy: WritePolicy, c: CertificateRef): readonly WriteTarget[] | undefined {
  return policy.get(`${lower(c.vaultName)}/${lower(c.certificateName)}`) ?? policy.get(lower(c.vaultName));
}

/** The kind of {@link WriteTarget} a binding is written to. */
function targetKind(b: Binding): WriteTarget["kind"] {
  if (b.kind === "kubernetesSecret") return "kubernetes";
  return b.kind === "frontDoorSecret" ? "frontDoor" : "apim";
}

/** Whether one allowed place covers the binding. */
function covers(t: WriteTarget, b: Binding): boolean {
  switch (b.kind) {
    case "kubernetesSecret":
      return (
        t.kind === "kubernetes" &&
        (t.cluster === "*" || t.cluster === nameOf(b.cluster)) &&
        t.namespace === b.namespace
      );
    case "apimHostname":
    case "apimCertificate":
      return t.kind === "apim" && t.service === nameOf(b.serviceId);
    case "frontDoorSecret":
      return t.kind === "frontDoor" && t.profile === nameOf(b.profileId);
  }
}

/** Whether the policy lets the binding be written. */
export function writeAllowed(policy: WritePolicy, b: Binding): boolean {
  const named = (ruleFor(policy, b.certificate) ?? []).filter((t) => t.kind === targetKind(b));
  if (named.length > 0) return named.some((t) => covers(t, b));
  // The default: a private key goes only where the operator named the Secret.
  return b.kind !== "kubernetesSecret" || b.role === "ca" || b.source === "explicit";
}

/** Splits bindings into those the policy allows and those it ignores (with the sentence why). */
export function applyWritePolicy(
  policy: WritePolicy,
  bindings: readonly Binding[],
): { allowed: Binding[]; ignored: IgnoredBinding[] } {
  const allowed: Binding[] = [];
  const ignored: IgnoredBinding[] = [];
  for (const b of bindings) {
    if (writeAllowed(policy, b)) {
      allowed.push(b);
      continue;
    }
    const ref = `${b.certificate.vaultName}/${b.certificate.certificateName}`;
    const described = describeBinding(b);
    ignored.push({
      bindingId: bindingId(b),
      certificate: b.certificate,
      description: described,
      reason: "OutsideWritePolicy",
      message: `Ignored ${described}: WRITE_POLICY does not allow ${ref} to be written there${
        b.kind === "kubernetesSecret" && b.role === "tls"
          ? " (a private key goes only where WRITE_POLICY or the bindings file names the Secret)"
          : ""
      }; nothing was written to it.`,
    });
  }
  return { allowed, ignored };
}
