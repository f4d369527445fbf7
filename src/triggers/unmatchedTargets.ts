/**
 * Before a manual rollout starts: the `targets` it names that match no binding of the certificate,
 * so the request can be refused with a 400 instead of starting a rollout that can only end
 * `NeedsAttention/UnknownTargets`. The trigger runs discovery itself (it is no orchestrator: I/O is
 * allowed here).
 */
import type { Composition } from "../composition.js";
import { discoverBindings } from "../discovery.js";
import { selectTargets, type CertificateRef } from "../domain/bindings.js";

/**
 * The selectors of `targets` no binding of `certificate` matches. Empty when every one matches, and
 * also when discovery could not read everything that might bind the certificate: a selector may
 * then name a hidden binding, and the rollout itself decides (it reads again, then refuses).
 */
export async function unmatchedTargets(
  c: Composition,
  certificate: CertificateRef,
  targets: readonly string[],
): Promise<string[]> {
  const found = await discoverBindings(c, certificate);
  if (found.warnings.length > 0) return [];
  return selectTargets(found.bindings, targets).unmatched;
}
