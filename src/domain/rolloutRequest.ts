/**
 * `POST /api/rollouts`: the body, validated into a manual rollout of one allowed certificate, and
 * the rotation input it starts. Pure.
 */
import { z } from "zod";
import type { Config } from "../config.js";
import type { RolloutPolicy, RotationInput } from "../orchestrations/policy.js";
import { allowedVault } from "./allowedVaults.js";
import { formatPath } from "./bindings.js";

const name = z
  .string({ error: "must be a string" })
  .trim()
  .regex(/^[0-9a-zA-Z-]{1,127}$/, { error: "must be a Key Vault object name (letters, digits, hyphens)" });

/** Body of `POST /api/rollouts`. */
export const rolloutRequestSchema = z.strictObject({
  vault: z
    .string({ error: "is required: a vault name or URL" })
    .trim()
    .min(1, { error: "must not be empty" }),
  certificate: name,
  version: z
    .string({ error: "must be a string" })
    .trim()
    .regex(/^[0-9a-zA-Z]{1,64}$/, { error: "must be a Key Vault version id" })
    .optional(),
  targets: z
    .array(z.string({ error: "must be a string" }).trim().min(1, { error: "must not be empty" }), {
      error: "must be an array of target selectors",
    })
    .min(1, { error: "must name at least one target (leave it out for all)" })
    .optional(),
  dryRun: z.boolean({ error: "must be true or false" }).optional(),
  renew: z.boolean({ error: "must be true or false" }).optional(),
});

/** A valid body of `POST /api/rollouts`, its vault resolved to an allowed vault's name. */
export type ManualRollout = Omit<z.infer<typeof rolloutRequestSchema>, "vault"> & { vaultName: string };

/** The body read as a manual rollout, or why not: a sentence and the field at fault. */
export type ParsedRolloutRequest =
  { ok: true; rollout: ManualRollout } | { ok: false; message: string; field: string };

/** Reads a `POST /api/rollouts` body: the schema, then the vault allow-list, then `version` with `renew`. */
export function parseRolloutRequest(
  body: unknown,
  config: Pick<Config, "allowedVaultUrls">,
): ParsedRolloutRequest {
  const parsed = rolloutRequestSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = formatPath(issue?.path ?? []) || "(body)";
    if (issue?.code === "unrecognized_keys")
      return { ok: false, message: `Unknown field(s) ${issue.keys.join(", ")}.`, field: issue.keys[0] ?? "" };
    return { ok: false, message: `Field ${field} ${issue?.message ?? "is invalid"}.`, field };
  }
  const { vault, ...rest } = parsed.data;
  const vaultName = allowedVault(config, vault);
  if (!vaultName)
    return {
      ok: false,
      message: `Field vault: '${vault}' is not one of ALLOWED_VAULT_URLS.`,
      field: "vault",
    };
  if (rest.version && rest.renew)
    return { ok: false, message: "Field renew cannot be true when a version is given.", field: "renew" };
  return { ok: true, rollout: { ...rest, vaultName } };
}

/** What the rollout's trigger says it was asked: `POST /api/rollouts version … targets … (dry run)`. */
export const manualTriggerDetail = (r: ManualRollout): string =>
  `POST /api/rollouts${r.version ? ` version ${r.version}` : r.renew ? " renew" : ""}${r.targets ? ` targets ${r.targets.join(", ")}` : ""}${r.dryRun ? " (dry run)" : ""}`;

/** The rotation input of a manual rollout, recognisable by `requestId`. */
export function manualRotationInput(
  r: ManualRollout,
  requestId: string,
  policy: RolloutPolicy,
): RotationInput {
  return {
    certificate: { vaultName: r.vaultName, certificateName: r.certificate },
    request: {
      kind: "manual",
      ...(r.version ? { version: r.version } : {}),
      ...(r.targets ? { targets: r.targets } : {}),
      dryRun: r.dryRun ?? false,
      renew: r.renew ?? false,
    },
    trigger: { kind: "manual", detail: manualTriggerDetail(r), requestId },
    policy,
  };
}
