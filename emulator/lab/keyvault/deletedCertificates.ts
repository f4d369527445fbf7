/** `/deletedcertificates`: list, get, purge (DELETE) and recover soft-deleted certificates. */
import type { Router } from "../core/http.js";
import type { KeyVaultModel } from "./model.js";
import { certificateNotFound, deletedCertificateNotFound } from "./core/errors.js";
import type { KeyVaultPipeline } from "./core/pipeline.js";
import { certificateBundle, deletedBundle, ok, page } from "./core/responses.js";

/** Registers the deleted-certificate routes. */
export function registerDeletedCertificates(
  router: Router,
  pipeline: KeyVaultPipeline,
  model: KeyVaultModel,
): void {
  router.on(
    "GET",
    "/deletedcertificates",
    pipeline.route("certificates/read", "certificates", (req, vault) =>
      page(
        model,
        req,
        Object.values(model.vault(vault)!.deleted).map((d) => {
          const full = deletedBundle(model, vault, d);
          return {
            id: `${model.vaultUrl(vault)}/certificates/${d.name}`,
            recoveryId: full.recoveryId,
            deletedDate: full.deletedDate,
            scheduledPurgeDate: full.scheduledPurgeDate,
            ...("x5t" in full ? { x5t: full.x5t, attributes: full.attributes } : {}),
          };
        }),
      ),
    ),
  );
  router.on(
    "GET",
    "/deletedcertificates/:name",
    pipeline.route("certificates/read", "certificates", (req, vault) => {
      const d = model.vault(vault)!.deleted[req.params.name!.toLowerCase()];
      if (!d) throw deletedCertificateNotFound(req.params.name!);
      return ok(deletedBundle(model, vault, d));
    }),
  );
  router.on(
    "DELETE",
    "/deletedcertificates/:name",
    pipeline.route("certificates/purge/action", "certificates", (req, vault) => {
      model.purgeDeleted(vault, req.params.name!);
      return { status: 204 };
    }),
  );
  router.on(
    "POST",
    "/deletedcertificates/:name/recover",
    pipeline.route("certificates/recover/action", "certificates", (req, vault) => {
      const cert = model.recoverDeleted(vault, req.params.name!);
      const latest = cert.versions.at(-1);
      if (!latest) throw certificateNotFound(cert.name);
      return ok(certificateBundle(model, vault, cert, latest));
    }),
  );
}
