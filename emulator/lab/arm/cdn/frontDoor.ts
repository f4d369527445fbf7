/**
 * Shared Front Door (Microsoft.Cdn, Standard/Premium) logic: resource ids and lookups, the custom
 * domain's deployment (NotStarted → InProgress → Succeeded after `frontDoorDeploymentMs`, then what
 * the edge serves changes), and resolution of a domain's secret to a Key Vault reference.
 *
 * Faults (service "arm", `match` against "METHOD /path"): `lroFailed` on a secret PUT or a domain
 * PUT/PATCH makes its operation end Failed (`code`/`message` of the rule, default
 * "InternalServerError"); `afdDeploymentStuck` holds every deployment that starts while the rule
 * exists `InProgress` until the rule is removed.
 */
import type { LabRequest, LabResponse } from "../../core/http.js";
import type { KeyVaultSecretRef } from "../api.js";
import { armError, resourceNotFound } from "../core/errors.js";
import { checkScope, isResponse, requestScope } from "../core/scope.js";
import {
  key,
  keyVaultSecretArmId,
  lastSegment,
  parseKeyVaultSecretArmId,
  resourceGroupId,
} from "../core/ids.js";
import type { DomainState, DomainTls, ProfileState, SecretState } from "../core/state.js";
import type { ArmWorld } from "../core/world.js";

export const CDN = "Microsoft.Cdn";
export const PROFILE_PATH =
  "/subscriptions/:sub/resourceGroups/:rg/providers/Microsoft.Cdn/profiles/:profile";

export const profileId = (world: ArmWorld, profile: string): string =>
  `${resourceGroupId(world.subscriptionId, world.resourceGroup)}/providers/Microsoft.Cdn/profiles/${profile}`;

/** Finds the subscription, resource group and profile of a request, or the 404 ARM answers. */
export function findProfile(world: ArmWorld, req: LabRequest): ProfileState | LabResponse {
  const scoped = checkScope(world, req);
  if (scoped) return scoped;
  const profile = world.state.profiles[key(req.params.profile!)];
  if (!profile) {
    return resourceNotFound("Microsoft.Cdn/profiles", req.params.profile!, req.params.rg!);
  }
  return profile;
}

export { checkScope, isResponse, requestScope };

/** Front Door's own 404 for a child resource. */
export const childNotFound = (type: string, name: string): LabResponse =>
  armError(404, "NotFound", `The requested resource '${type}' with name '${name}' was not found.`);

/** What the domain would serve with its current settings: the secret it points at, resolved. */
export async function domainTarget(
  world: ArmWorld,
  profile: ProfileState,
  domain: DomainState,
): Promise<DomainTls> {
  const tls = (domain.properties.tlsSettings ?? {}) as Record<string, unknown>;
  const secretRef = (tls.secret as { id?: string } | undefined)?.id;
  const minimumTlsVersion = typeof tls.minimumTlsVersion === "string" ? tls.minimumTlsVersion : undefined;
  if (!secretRef) return { minimumTlsVersion };
  const secret = profile.secrets[key(lastSegment(secretRef))];
  if (!secret) return { secretId: secretRef, minimumTlsVersion };
  const keyVault = await secretKeyVaultRef(world, secret);
  return {
    secretId: `${profileId(world, profile.name)}/secrets/${secret.name}`,
    keyVault,
    thumbprint: keyVault?.version ? await thumbprintOf(world, keyVault) : undefined,
    minimumTlsVersion,
  };
}

/** The Key Vault reference of a CustomerCertificate secret; `useLatestVersion` resolves to the current version. */
export async function secretKeyVaultRef(
  world: ArmWorld,
  secret: SecretState,
): Promise<KeyVaultSecretRef | undefined> {
  const p = secret.parameters;
  const source = (p.secretSource as { id?: string } | undefined)?.id;
  const parsed = source ? parseKeyVaultSecretArmId(source) : undefined;
  if (!source || !parsed) return undefined;
  const followsLatest = p.useLatestVersion === true;
  let version = typeof p.secretVersion === "string" && p.secretVersion ? p.secretVersion : undefined;
  if (followsLatest || !version) {
    const resolved = await world.kv.resolve({ vaultName: parsed.vaultName, secretName: parsed.secretName });
    version = resolved?.version ?? version;
  }
  const rgId = resourceGroupId(world.subscriptionId, world.resourceGroup);
  return {
    vaultName: parsed.vaultName,
    secretName: parsed.secretName,
    version,
    followsLatest,
    armId: source.startsWith("/") ? source : keyVaultSecretArmId(rgId, parsed.vaultName, parsed.secretName),
    secretUrl: `${world.kv.vaultUrl(parsed.vaultName)}/secrets/${parsed.secretName}${version ? `/${version}` : ""}`,
  };
}

async function thumbprintOf(world: ArmWorld, ref: KeyVaultSecretRef): Promise<string | undefined> {
  const resolved = await world.kv.resolve({
    vaultName: ref.vaultName,
    secretName: ref.secretName,
    version: ref.version,
  });
  return resolved?.certificate?.thumbprint;
}

/** Starts the deployment of a domain's current settings to the edge. */
export async function startDeployment(
  world: ArmWorld,
  profile: ProfileState,
  domain: DomainState,
): Promise<void> {
  const target = await domainTarget(world, profile, domain);
  domain.deploymentStatus = "InProgress";
  domain.deployment = {
    target,
    dueAt: world.now() + world.settings.frontDoorDeploymentMs,
    ...(world.faultActive("afdDeploymentStuck") ? { stuck: true } : {}),
  };
  const secret = target.secretId ? profile.secrets[key(lastSegment(target.secretId))] : undefined;
  if (secret) secret.deploymentStatus = "InProgress";
}

/** Completes due deployments: the edge serves the new settings from now on. */
export function deploymentTicker(world: ArmWorld) {
  const each = function* () {
    for (const profile of Object.values(world.state.profiles)) {
      for (const domain of Object.values(profile.customDomains)) {
        if (domain.deployment) yield { profile, domain, deployment: domain.deployment };
      }
    }
  };
  return {
    run(now: number) {
      for (const { profile, domain, deployment } of each()) {
        if (deployment.stuck) {
          if (world.faultActive("afdDeploymentStuck")) continue;
          deployment.stuck = false;
          deployment.dueAt = now + world.settings.frontDoorDeploymentMs;
        }
        if (deployment.dueAt > now) continue;
        domain.deployment = undefined;
        domain.deploymentStatus = "Succeeded";
        domain.effective = { ...deployment.target, since: world.nowIso() };
        const secret = deployment.target.secretId
          ? profile.secrets[key(lastSegment(deployment.target.secretId))]
          : undefined;
        if (secret) secret.deploymentStatus = "Succeeded";
        world.changed(`${profileId(world, profile.name)}/customDomains/${domain.name}`);
      }
    },
    nextDue(now: number) {
      let next: number | undefined;
      for (const { deployment } of each()) {
        const due = deployment.stuck ? now + 200 : deployment.dueAt;
        if (next === undefined || due < next) next = due;
      }
      return next;
    },
  };
}

/** The error an `lroFailed` fault rule puts on an operation. */
export function lroFailure(world: ArmWorld, req: LabRequest): { code: string; message: string } | undefined {
  const rule = world.ctx.faults.take("arm", `${req.method} ${req.path}`, "lroFailed");
  if (!rule) return undefined;
  return {
    code: rule.code ?? "InternalServerError",
    message: rule.message ?? "Injected fault: the long-running operation failed.",
  };
}
