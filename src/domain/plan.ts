/**
 * Planning a rollout: from the bindings of one certificate and a stage policy, the stages in order
 * (inner to outer by default: Kubernetes → APIM → Front Door), each with one step per resource:
 * one write per Kubernetes Secret, one APIM service update carrying all of that service's
 * hostnames and certificate entities, one new Front Door secret plus the repoint of every custom
 * domain per profile.
 *
 * A plan is serialisable and holds references only (vault URL, certificate name, version, secret
 * ids), never key material: it travels through Durable history.
 */
import { parseArmId } from "./armIds.js";
import {
  STAGES,
  bindingId,
  bindsCertificate,
  describeBinding,
  normaliseHostName,
  probeKey,
  probeTargets,
  resourceKey,
  stageOf,
  type ApimHostnameType,
  type Binding,
  type ProbeSpec,
  type Stage,
} from "./bindings.js";

/** The certificate version being rolled out, by reference. */
export interface PlanCertificate {
  vaultName: string;
  /** Vault base URL, e.g. `https://kv.vault.azure.net` (no trailing slash). */
  vaultUrl: string;
  certificateName: string;
  version: string;
  /** ARM id of the vault; required when a Front Door profile is bound (its secrets reference the vault by ARM id). */
  vaultResourceId?: string;
  /** SHA-1 thumbprint of the new leaf, when known (preflight knows it). */
  thumbprint?: string;
}

/**
 * How stages are ordered and how long each may take to show the new certificate. The caller gives
 * every value (the rollout policy, from the app settings `STAGE_ORDER`, `PROBE_DEADLINE_*_SECONDS`
 * and `PROBE_INTERVAL_SECONDS`, whose defaults live in src/config.ts); planning invents none.
 */
export interface StagePolicy {
  /** Stage order. */
  order: readonly Stage[];
  /** Seconds after a stage's writes within which every endpoint must serve the new certificate. */
  probeDeadlineSeconds: Readonly<Record<Stage, number>>;
  /** Seconds between probes of a stage. */
  probeIntervalSeconds: Readonly<Record<Stage, number>>;
}

interface StepCommon {
  /** Unique within the plan; stable for the same bindings. */
  stepId: string;
  /** The resource written (see `resourceKey` in bindings). Steps on one resource never overlap. */
  resourceKey: string;
  /** The bindings this step serves. */
  bindingIds: string[];
  /** Endpoints to probe after the write. */
  probes: ProbeSpec[];
  /** What the step does, in words. */
  description: string;
}

/** Write the new certificate into one Kubernetes Secret (one write, with a resourceVersion precondition). */
export interface KubernetesSecretStep extends StepCommon {
  kind: "kubernetesSecret";
  cluster: string;
  namespace: string;
  secretName: string;
  /** Write `tls.crt` (leaf and chain) and `tls.key`. */
  writeTls: boolean;
  /** Write `ca.crt` (client-CA bundle). */
  writeCa: boolean;
  /** Deployments to restart after the write. */
  restartDeployments: string[];
}

/** One update of an APIM service: its hostnames and certificate entities bound to this certificate. */
export interface ApimServiceStep extends StepCommon {
  kind: "apimService";
  serviceId: string;
  /** Hostname entries to point at `keyVaultSecretId`; every other entry is sent back unchanged. */
  hostnames: { type: ApimHostnameType; hostName: string }[];
  /** `certificates` entities to point at `keyVaultSecretId`. */
  certificates: { certificateId: string; backendIds: string[] }[];
  /** The versioned Key Vault secret URL of the new version. */
  keyVaultSecretId: string;
}

/** One Front Door profile: a customer-certificate secret for the new version, then the repoint of each custom domain. */
export interface FrontDoorProfileStep extends StepCommon {
  kind: "frontDoorProfile";
  profileId: string;
  /** Name of the secret to create for the new version (create-or-replace, so idempotent). */
  newSecretName: string;
  /** `secretSource.id`: ARM id of the Key Vault secret. */
  secretSourceId: string;
  secretVersion: string;
  /** Custom domains to repoint, each with the secret it uses now (kept until the rollout is final). */
  customDomains: { name: string; hostName: string; previousSecretName: string }[];
}

/** One step of a stage. */
export type PlanStep = KubernetesSecretStep | ApimServiceStep | FrontDoorProfileStep;

/** One stage: steps run in parallel, then probes until the deadline. */
export interface PlanStage {
  /** 1-based position in the plan. */
  index: number;
  stage: Stage;
  steps: PlanStep[];
  probeDeadlineSeconds: number;
  probeIntervalSeconds: number;
}

/** A rollout plan. */
export interface Plan {
  certificate: PlanCertificate & { secretId: string };
  stages: PlanStage[];
  /** Ids of every binding the plan covers. */
  bindingIds: string[];
  dryRun: boolean;
}

/** Why a plan could not be built. */
export type PlanErrorReason =
  "NoBindings" | "ForeignBinding" | "InvalidStageOrder" | "VaultResourceIdRequired";

/** Result of {@link buildPlan}. */
export type BuildPlanResult =
  { ok: true; plan: Plan } | { ok: false; reason: PlanErrorReason; message: string };

/** Input of {@link buildPlan}. */
export interface BuildPlanInput {
  certificate: PlanCertificate;
  bindings: readonly Binding[];
  policy: StagePolicy;
  dryRun?: boolean;
}

/** The versioned Key Vault secret URL of a certificate version. */
export function versionedSecretId(
  c: Pick<PlanCertificate, "vaultUrl" | "certificateName" | "version">,
): string {
  return `${c.vaultUrl.replace(/\/+$/, "")}/secrets/${c.certificateName}/${c.version}`;
}

/** The Front Door secret name used for a certificate version: `<certificate>-<version>`. */
export function frontDoorSecretName(certificateName: string, version: string): string {
  return `${certificateName}-${version}`.replace(/[^a-zA-Z0-9-]/g, "-").slice(0, 260);
}

/** One probe per host, expectation and place to connect (the same host at two addresses is probed at both). */
const uniqueProbes = (probes: ProbeSpec[]): ProbeSpec[] => {
  const seen = new Map<string, ProbeSpec>();
  for (const p of probes) if (!seen.has(probeKey(p))) seen.set(probeKey(p), p);
  return [...seen.values()];
};

type PlanRefusal = Extract<BuildPlanResult, { ok: false }>;

/** Why the input cannot make a plan (bindings absent or foreign, stage order unusable, vault id missing), or nothing. */
function refusal(input: BuildPlanInput): PlanRefusal | undefined {
  const { certificate: cert, policy } = input;
  const ref = { vaultName: cert.vaultName, certificateName: cert.certificateName };
  const refuse = (reason: PlanErrorReason, message: string): PlanRefusal => ({ ok: false, reason, message });
  if (input.bindings.length === 0)
    return refuse("NoBindings", `No target is bound to ${cert.vaultName}/${cert.certificateName}.`);
  const foreign = input.bindings.find((b) => !bindsCertificate(b, ref));
  if (foreign) {
    return refuse(
      "ForeignBinding",
      `${describeBinding(foreign)} serves ${foreign.certificate.vaultName}/${foreign.certificate.certificateName}, not ${cert.vaultName}/${cert.certificateName}.`,
    );
  }
  if (new Set(policy.order).size !== policy.order.length || policy.order.some((s) => !STAGES.includes(s))) {
    return refuse(
      "InvalidStageOrder",
      `The stage order ${policy.order.join(", ")} repeats or names an unknown stage.`,
    );
  }
  const unordered = [...new Set(input.bindings.map(stageOf))].filter((s) => !policy.order.includes(s));
  if (unordered.length) {
    return refuse(
      "InvalidStageOrder",
      `The stage order ${policy.order.join(", ")} leaves out ${unordered.join(", ")}, which has bindings.`,
    );
  }
  if (!cert.vaultResourceId && input.bindings.some((b) => b.kind === "frontDoorSecret")) {
    return refuse(
      "VaultResourceIdRequired",
      `Front Door needs the ARM id of vault ${cert.vaultName} to reference its secret; none was given.`,
    );
  }
  return undefined;
}

/** Builds the stages of a rollout. Pure; refuses rather than guesses when the input does not add up. */
export function buildPlan(input: BuildPlanInput): BuildPlanResult {
  const { certificate: cert, policy } = input;

  // 1. Sanity: bindings present, all for this certificate, stage order usable.
  const refused = refusal(input);
  if (refused) return refused;

  // 2. Group bindings by stage, then by resource, into one step per resource.
  const secretId = versionedSecretId(cert);
  const stages: PlanStage[] = [];
  for (const stage of policy.order) {
    const inStage = input.bindings.filter((b) => stageOf(b) === stage);
    if (inStage.length === 0) continue;
    const byResource = new Map<string, Binding[]>();
    for (const b of inStage) byResource.set(resourceKey(b), [...(byResource.get(resourceKey(b)) ?? []), b]);
    const steps = [...byResource.entries()].map(([key, group]) =>
      buildStep(stage, key, group, cert, secretId),
    );
    stages.push({
      index: stages.length + 1,
      stage,
      steps,
      probeDeadlineSeconds: policy.probeDeadlineSeconds[stage],
      probeIntervalSeconds: policy.probeIntervalSeconds[stage],
    });
  }
  return {
    ok: true,
    plan: {
      certificate: { ...cert, vaultUrl: cert.vaultUrl.replace(/\/+$/, ""), secretId },
      stages,
      bindingIds: input.bindings.map(bindingId),
      dryRun: input.dryRun ?? false,
    },
  };
}

type StepBase = Omit<StepCommon, "description">;

function buildStep(
  stage: Stage,
  key: string,
  group: Binding[],
  cert: PlanCertificate,
  secretId: string,
): PlanStep {
  const common: StepBase = {
    stepId: `${stage}:${key}`,
    resourceKey: key,
    bindingIds: group.map(bindingId),
    probes: uniqueProbes(group.flatMap(probeTargets)),
  };
  const first = group[0] as Binding;
  switch (first.kind) {
    case "kubernetesSecret":
      return kubernetesStep(common, first, group);
    case "apimHostname":
    case "apimCertificate":
      return apimStep(common, first, group, cert, secretId);
    case "frontDoorSecret":
      return frontDoorStep(common, first, group, cert);
  }
}

/** One write per Secret: the TLS pair and/or the CA bundle, then the Deployments to restart. */
function kubernetesStep(
  common: StepBase,
  first: Extract<Binding, { kind: "kubernetesSecret" }>,
  group: Binding[],
): KubernetesSecretStep {
  const ks = group.filter((b) => b.kind === "kubernetesSecret");
  const restart = [...new Set(ks.flatMap((b) => b.restartDeployments))];
  const writeTls = ks.some((b) => b.role === "tls");
  const writeCa = ks.some((b) => b.role === "ca");
  return {
    kind: "kubernetesSecret",
    ...common,
    cluster: first.cluster,
    namespace: first.namespace,
    secretName: first.secretName,
    writeTls,
    writeCa,
    restartDeployments: restart,
    description: `Write ${[writeTls ? "tls.crt/tls.key" : "", writeCa ? "ca.crt" : ""].filter(Boolean).join(" and ")} of Secret ${first.namespace}/${first.secretName} in ${first.cluster}${restart.length ? `, then restart ${restart.join(", ")}` : ""}.`,
  };
}

/** One update per APIM service, carrying all of its hostnames and certificate entities. */
function apimStep(
  common: StepBase,
  first: Extract<Binding, { kind: "apimHostname" | "apimCertificate" }>,
  group: Binding[],
  cert: PlanCertificate,
  secretId: string,
): ApimServiceStep {
  const hostnames = group.flatMap((b) =>
    b.kind === "apimHostname" ? [{ type: b.hostnameType, hostName: b.hostName }] : [],
  );
  const certificates = group.flatMap((b) =>
    b.kind === "apimCertificate" ? [{ certificateId: b.certificateId, backendIds: b.backendIds }] : [],
  );
  const name = parseArmId(first.serviceId)?.name ?? first.serviceId;
  return {
    kind: "apimService",
    ...common,
    serviceId: first.serviceId,
    hostnames,
    certificates,
    keyVaultSecretId: secretId,
    description: `Update APIM ${name}: ${[
      hostnames.length ? `hostnames ${hostnames.map((h) => `${h.type} ${h.hostName}`).join(", ")}` : "",
      certificates.length ? `certificates ${certificates.map((c) => c.certificateId).join(", ")}` : "",
    ]
      .filter(Boolean)
      .join("; ")} to version ${cert.version}.`,
  };
}

/** One new secret per Front Door profile, then the repoint of each of its custom domains. */
function frontDoorStep(
  common: StepBase,
  first: Extract<Binding, { kind: "frontDoorSecret" }>,
  group: Binding[],
  cert: PlanCertificate,
): FrontDoorProfileStep {
  const domains = new Map<string, { name: string; hostName: string; previousSecretName: string }>();
  for (const b of group) {
    if (b.kind !== "frontDoorSecret") continue;
    for (const d of b.customDomains) {
      const k = d.name.toLowerCase();
      if (!domains.has(k))
        domains.set(k, {
          name: d.name,
          hostName: normaliseHostName(d.hostName),
          previousSecretName: b.secretName,
        });
    }
  }
  const newSecretName = frontDoorSecretName(cert.certificateName, cert.version);
  const name = parseArmId(first.profileId)?.name ?? first.profileId;
  return {
    kind: "frontDoorProfile",
    ...common,
    profileId: first.profileId,
    newSecretName,
    secretSourceId: `${(cert.vaultResourceId ?? "").replace(/\/+$/, "")}/secrets/${cert.certificateName}`,
    secretVersion: cert.version,
    customDomains: [...domains.values()],
    description: `Create Front Door secret ${newSecretName} in ${name} and repoint ${[...domains.values()].map((d) => d.hostName).join(", ")} to it.`,
  };
}

/** Every step of a plan, stage by stage. */
export function planSteps(plan: Plan): PlanStep[] {
  return plan.stages.flatMap((s) => s.steps);
}
