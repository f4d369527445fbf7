/**
 * What a binding is configured with now: the vault version its resource references (or "latest")
 * and the thumbprint of that version, read from the resource itself and, where the resource does not
 * show a thumbprint, from Key Vault. A Secret's certificate is judged by the leaf in its tls.crt;
 * our annotations count only while they agree with it.
 */
import type { Composition } from "./composition.js";
import { apimServiceId } from "./azure/apim.js";
import { domainSecret, frontDoorProfileId, secretInfo } from "./azure/frontDoor.js";
import { hexThumbprint } from "./azure/keyVault.js";
import type { Binding } from "./domain/bindings.js";
import type { ConfiguredObservation } from "./domain/drift.js";
import { parseVaultArmReference, parseVaultUrlReference } from "./discovery.js";
import { carried } from "./kubernetes/secretContent.js";
import { VERSION_ANNOTATION, kubeApis, readSecret } from "./kubernetes/tlsSecrets.js";

/** A binding's configuration: the observation and, when known, the configured thumbprint. */
export interface Configured {
  configured: ConfiguredObservation;
  thumbprint?: string;
}

async function vaultThumbprint(
  c: Composition,
  vaultName: string,
  name: string,
  version?: string,
): Promise<string | undefined> {
  const url = c.vaultUrl(vaultName);
  if (!url) return undefined;
  const client = c.certificateClient(url);
  const cert = version
    ? await client.getCertificateVersion(name, version)
    : await client.getCertificate(name);
  return hexThumbprint(cert.properties.x509Thumbprint);
}

/** The vault version of `name` whose leaf is `thumbprint` (among the newest 50), if any. */
async function vaultVersionOf(
  c: Composition,
  vaultName: string,
  name: string,
  thumbprint: string,
): Promise<string | undefined> {
  const url = c.vaultUrl(vaultName);
  if (!url) return undefined;
  let n = 0;
  for await (const p of c.certificateClient(url).listPropertiesOfCertificateVersions(name)) {
    if (hexThumbprint(p.x509Thumbprint) === thumbprint) return p.version;
    if (++n >= 50) break;
  }
  return undefined;
}

const unknown = (message: string): Configured => ({ configured: { status: "unknown", message } });

/** Reads what the binding's resource is configured with. Throws SDK errors for the caller to classify. */
export async function readConfigured(c: Composition, b: Binding): Promise<Configured> {
  switch (b.kind) {
    case "kubernetesSecret":
      return readSecretConfigured(c, b);
    case "apimHostname":
      return readApimHostnameConfigured(c, b);
    case "apimCertificate":
      return readApimCertificateConfigured(c, b);
    case "frontDoorSecret":
      return readFrontDoorConfigured(c, b);
  }
}

type BindingOf<K extends Binding["kind"]> = Extract<Binding, { kind: K }>;

const withThumbprint = (
  configured: Configured["configured"],
  thumbprint: string | undefined,
): Configured => ({
  configured,
  ...(thumbprint ? { thumbprint } : {}),
});

/** A Secret: the version our annotations name while tls.crt's leaf agrees, else the version that leaf is. */
async function readSecretConfigured(c: Composition, b: BindingOf<"kubernetesSecret">): Promise<Configured> {
  const s = await readSecret(kubeApis(await c.kubeConfig(b.cluster)), b.namespace, b.secretName);
  if (!s) return unknown(`Secret ${b.namespace}/${b.secretName} does not exist.`);
  const k = carried(s, b.role);
  const claimed = s.metadata?.annotations?.[VERSION_ANNOTATION];
  if (b.role === "tls" && !k.version && claimed && k.thumbprint) {
    // Our annotations name a version but tls.crt holds another leaf (replaced by hand): the
    // Secret is configured with whatever version that leaf is, or with none of this certificate.
    const actual = await vaultVersionOf(
      c,
      b.certificate.vaultName,
      b.certificate.certificateName,
      k.thumbprint,
    );
    return {
      configured: {
        status: "version",
        version:
          actual ??
          `none (tls.crt holds ${k.thumbprint}, no version of ${b.certificate.certificateName}; the annotation says ${claimed})`,
      },
      thumbprint: k.thumbprint,
    };
  }
  if (k.version) return withThumbprint({ status: "version", version: k.version }, k.thumbprint);
  const none = unknown(`Secret ${b.namespace}/${b.secretName} names no vault version.`);
  // A client-CA bundle's annotated thumbprint is of a leaf it does not hold: not reported without a version.
  return b.role === "ca" ? none : { ...none, ...(k.thumbprint ? { thumbprint: k.thumbprint } : {}) };
}

/** An APIM hostname: the Key Vault reference of its entry (versionless: latest). */
async function readApimHostnameConfigured(c: Composition, b: BindingOf<"apimHostname">): Promise<Configured> {
  const id = apimServiceId(b.serviceId);
  const svc = await c.apimClient(id.subscriptionId).apiManagementService.get(id.resourceGroup, id.name);
  const h = (svc.hostnameConfigurations ?? []).find(
    (e) =>
      e.type.toLowerCase() === b.hostnameType.toLowerCase() &&
      e.hostName.toLowerCase() === b.hostName.toLowerCase(),
  );
  const ref = parseVaultUrlReference(h?.keyVaultId);
  if (!ref) return unknown(`APIM ${id.name} hostname ${b.hostName} references no Key Vault secret.`);
  const thumbprint =
    h?.certificate?.thumbprint?.toUpperCase() ??
    (await vaultThumbprint(c, ref.vaultName, ref.certificateName, ref.version));
  return withThumbprint(
    ref.version ? { status: "version", version: ref.version } : { status: "latest" },
    thumbprint,
  );
}

/** An APIM certificate entity: its Key Vault reference (versionless: latest). */
async function readApimCertificateConfigured(
  c: Composition,
  b: BindingOf<"apimCertificate">,
): Promise<Configured> {
  const id = apimServiceId(b.serviceId);
  const e = await c.apimClient(id.subscriptionId).certificate.get(id.resourceGroup, id.name, b.certificateId);
  const ref = parseVaultUrlReference(e.keyVault?.secretIdentifier);
  if (!ref) return unknown(`APIM ${id.name} certificate ${b.certificateId} references no Key Vault secret.`);
  const thumbprint =
    e.thumbprint?.toUpperCase() ??
    (await vaultThumbprint(c, ref.vaultName, ref.certificateName, ref.version));
  return withThumbprint(
    ref.version ? { status: "version", version: ref.version } : { status: "latest" },
    thumbprint,
  );
}

/** A Front Door profile: the secret its domains use now, and the vault version that secret pins (or latest). */
async function readFrontDoorConfigured(c: Composition, b: BindingOf<"frontDoorSecret">): Promise<Configured> {
  const p = frontDoorProfileId(b.profileId);
  const client = c.cdnClient(p.subscriptionId);
  // The secret the domains use now (after a rollout it is no longer the discovered one).
  const first = b.customDomains[0];
  const secretName = first
    ? ((await domainSecret(client, p, first.name)).secretName ?? b.secretName)
    : b.secretName;
  const s = await secretInfo(client, p, secretName);
  const ref = parseVaultArmReference(s.secretSourceId, s.secretVersion);
  if (!ref) return unknown(`Front Door secret ${secretName} references no Key Vault secret.`);
  const thumbprint =
    s.thumbprint?.toUpperCase() ??
    (await vaultThumbprint(
      c,
      ref.vaultName,
      ref.certificateName,
      s.useLatestVersion ? undefined : ref.version,
    ));
  return withThumbprint(
    s.useLatestVersion || !ref.version ? { status: "latest" } : { status: "version", version: ref.version },
    thumbprint,
  );
}
