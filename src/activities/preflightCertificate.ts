/**
 * Activity `preflightCertificate`: fetches the version from Key Vault (the key stays inside this
 * activity: it is compared with the certificate and dropped) and runs the preflight check chain.
 */
import type { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { composition } from "../composition.js";
import { describeSdkError, retriable } from "../azure/sdkErrors.js";
import { keyMatches, withCertificateMaterial } from "../azure/keyVault.js";
import { runPreflight, type PreflightReason } from "../domain/preflight.js";
import { inspectCandidate } from "../domain/x509.js";
import type { PreflightCertificateInput, PreflightCertificateOutput } from "./contracts.js";
import type { TypedActivity } from "./typed.js";

const rejected = (reason: string, message: string): PreflightCertificateOutput => ({
  verdict: "Rejected",
  // Reasons outside the check chain (the version cannot be read at all) share the Finding shape.
  failures: [{ reason: reason as PreflightReason, message }],
  notices: [],
  thumbprint: "",
  alreadyDeployed: [],
  subject: "",
  notAfter: "",
});

/** Runs preflight on one certificate version for the given bindings. */
export async function preflightCertificateHandler(
  input: PreflightCertificateInput,
  context: InvocationContext,
): Promise<PreflightCertificateOutput> {
  const c = composition();
  const what = `${input.vaultName}/${input.certificateName}/${input.version}`;
  const vaultUrl = c.vaultUrl(input.vaultName);
  if (!vaultUrl)
    return rejected("VaultNotAllowed", `Vault ${input.vaultName} is not listed in ALLOWED_VAULT_URLS.`);
  try {
    const policy = await c.certificateClient(vaultUrl).getCertificatePolicy(input.certificateName);
    const roots = await c.trustedRoots();
    const outcome = await withCertificateMaterial(
      c.secretClient(vaultUrl),
      input.certificateName,
      input.version,
      async (m) => {
        const matches = m.key && m.chainPem[0] ? keyMatches(m.key, m.chainPem[0]) : undefined;
        const exportable = policy.exportable === true && m.key !== undefined;
        const inspected = await inspectCandidate({ certificates: m.chainPem, trustedRoots: roots });
        return { inspected, key: { ...(matches !== undefined ? { matches } : {}), exportable } };
      },
    );
    if ("problem" in outcome) return rejected(outcome.problem.reason, outcome.problem.message);
    if (!outcome.inspected.ok) return rejected(outcome.inspected.reason, outcome.inspected.message);
    const candidate = outcome.inspected.candidate;
    const result = runPreflight(
      {
        candidate,
        key: outcome.key,
        bindings: input.bindings,
        ...(input.deployed ? { deployed: input.deployed } : {}),
        policy: { minimumRemainingDays: c.config.rollout.minRemainingValidityDays, ...input.policy },
      },
      c.now(),
    );
    context.log(
      `preflightCertificate: ${what} ${result.verdict}${result.failures.length ? ` (${result.failures.map((f) => f.reason).join(", ")})` : ""}.`,
    );
    return { ...result, subject: candidate.leaf.subject, notAfter: candidate.leaf.notAfter };
  } catch (e) {
    const f = describeSdkError(e, `Reading certificate ${what}`);
    context.warn(`preflightCertificate: ${f.message}`);
    if (f.kind === "notFound") return rejected("CertificateNotFound", `Certificate ${what} does not exist.`);
    if (f.kind === "permanent") return rejected(f.code ?? "CertificateUnreadable", f.message);
    throw retriable(f);
  }
}

/** The registered activity; orchestrators yield `preflightCertificate(input)`. */
export const preflightCertificate: TypedActivity<PreflightCertificateInput, PreflightCertificateOutput> =
  df.app.activity("preflightCertificate", { handler: preflightCertificateHandler });
