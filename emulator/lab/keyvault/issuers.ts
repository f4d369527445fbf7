/** `/certificates/issuers`: list, get, set (PUT), update (PATCH) and delete certificate issuers. */
import type { Router } from "../core/http.js";
import type { KeyVaultModel } from "./model.js";
import type { StoredIssuer } from "./state.js";
import { epoch } from "./wire.js";
import { issuerNotFound } from "./core/errors.js";
import { bodyObject, type KeyVaultPipeline } from "./core/pipeline.js";
import { ok, page } from "./core/responses.js";

/** An issuer as Key Vault returns it. */
function issuerJson(model: KeyVaultModel, vault: string, i: StoredIssuer) {
  return {
    id: `${model.vaultUrl(vault)}/certificates/issuers/${i.name}`,
    provider: i.provider,
    ...(i.accountId ? { credentials: { account_id: i.accountId } } : {}),
    ...(i.orgDetails ? { org_details: i.orgDetails } : {}),
    attributes: { enabled: i.enabled, created: epoch(i.created), updated: epoch(i.updated) },
  };
}

/** Registers the issuer routes (before `/certificates/:name`, which would swallow them). */
export function registerIssuers(router: Router, pipeline: KeyVaultPipeline, model: KeyVaultModel): void {
  router.on(
    "GET",
    "/certificates/issuers",
    pipeline.route("certificatecas/read", "certificatecas", (req, vault) =>
      page(
        model,
        req,
        Object.values(model.vault(vault)!.issuers).map((i) => ({
          id: `${model.vaultUrl(vault)}/certificates/issuers/${i.name}`,
          provider: i.provider,
        })),
      ),
    ),
  );
  router.on(
    "GET",
    "/certificates/issuers/:name",
    pipeline.route("certificatecas/read", "certificatecas", (req, vault) => {
      const i = model.vault(vault)!.issuers[req.params.name!.toLowerCase()];
      if (!i) throw issuerNotFound(req.params.name!);
      return ok(issuerJson(model, vault, i));
    }),
  );
  router.on(
    "PUT",
    "/certificates/issuers/:name",
    pipeline.route("certificatecas/write", "certificatecas", (req, vault) =>
      ok(issuerJson(model, vault, model.setIssuer(vault, req.params.name!, bodyObject(req), false))),
    ),
  );
  router.on(
    "PATCH",
    "/certificates/issuers/:name",
    pipeline.route("certificatecas/write", "certificatecas", (req, vault) =>
      ok(issuerJson(model, vault, model.setIssuer(vault, req.params.name!, bodyObject(req), true))),
    ),
  );
  router.on(
    "DELETE",
    "/certificates/issuers/:name",
    pipeline.route("certificatecas/delete", "certificatecas", (req, vault) =>
      ok(issuerJson(model, vault, model.deleteIssuer(vault, req.params.name!))),
    ),
  );
}
