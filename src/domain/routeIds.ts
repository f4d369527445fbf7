/**
 * Route parameters, checked before they reach the Durable client or a table query: a rollout id
 * (`{id}` of `/api/rollouts/{id}…`) and the vault and certificate of `/api/certificates/{vault}/
 * {certificate}…` routes. A bad one is refused with a sentence naming the value. Pure.
 */
import { isValidInstanceId, MAX_INSTANCE_ID_LENGTH } from "./instanceIds.js";

/** The longest run id: an instance id, `@`, an ISO 8601 time (`2025-01-01T00:00:00.000Z`). */
export const MAX_ROLLOUT_ID_LENGTH = MAX_INSTANCE_ID_LENGTH + 1 + 24;

const ROTATION = /^rotate:[a-z0-9._~-]+:[a-z0-9._~-]+$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

/** Shows a bad value safely: at most 80 characters, control characters escaped. */
const shown = (value: string) => JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);

/**
 * Why `id` is not a rollout id — a rotation instance id (`rotate:<vault>:<certificate>`) or a run id
 * (that and `@<ISO time>`) — or undefined when it is one.
 */
export function rolloutIdProblem(id: string): string | undefined {
  const what = `Route id ${shown(id)}`;
  if (id.length > MAX_ROLLOUT_ID_LENGTH)
    return `${what} is longer than ${MAX_ROLLOUT_ID_LENGTH} characters; it is no rollout id.`;
  const at = id.lastIndexOf("@");
  const instance = at > 0 ? id.slice(0, at) : id;
  if (at > 0 && !(ISO_TIME.test(id.slice(at + 1)) && !Number.isNaN(Date.parse(id.slice(at + 1)))))
    return `${what} is no rollout id: a run id ends with @ and an ISO 8601 UTC time.`;
  if (!isValidInstanceId(instance) || !ROTATION.test(instance))
    return `${what} is no rollout id: expected rotate:<vault>:<certificate>, optionally followed by @<time> (a run id).`;
  return undefined;
}

const VAULT = /^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/;
const CERTIFICATE = /^[0-9a-zA-Z-]{1,127}$/;

/** Why a `{vault}` / `{certificate}` route pair is not a Key Vault vault and certificate name, or undefined. */
export function certificateRouteProblem(
  vault: string,
  certificate: string,
): { message: string; field: string } | undefined {
  if (!VAULT.test(vault))
    return {
      message: `Route vault ${shown(vault)} is not a Key Vault name (3-24 letters, digits, hyphens).`,
      field: "vault",
    };
  if (!CERTIFICATE.test(certificate))
    return {
      message: `Route certificate ${shown(certificate)} is not a Key Vault certificate name (1-127 letters, digits, hyphens).`,
      field: "certificate",
    };
  return undefined;
}
