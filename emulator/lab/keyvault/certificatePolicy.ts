/** `/certificates/{name}/policy`: get and update (PATCH) a certificate's policy. */
import type { Router } from "../core/http.js";
import type { KeyVaultModel } from "./model.js";
import { bodyObject, type KeyVaultPipeline } from "./core/pipeline.js";
import { findCertificate, ok, policyJson } from "./core/responses.js";

/** Registers the policy routes (before `/certificates/:name/:version`). */
export function registerCertificatePolicy(
  router: Router,
  pipeline: KeyVaultPipeline,
  model: KeyVaultModel,
): void {
  router.on(
    "GET",
    "/certificates/:name/policy",
    pipeline.route("certificates/read", "certificates", (req, vault) =>
      ok(policyJson(model, vault, findCertificate(model, vault, req.params.name!))),
    ),
  );
  router.on(
    "PATCH",
    "/certificates/:name/policy",
    pipeline.route("certificates/update/action", "certificates", (req, vault) => {
      model.updatePolicy(vault, req.params.name!, bodyObject(req));
      return ok(policyJson(model, vault, findCertificate(model, vault, req.params.name!)));
    }),
  );
}
