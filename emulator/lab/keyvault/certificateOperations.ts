/**
 * The certificate operation (the pending create): `POST /certificates/{name}/create` starts it
 * (202 + Location), `/certificates/{name}/pending` reads, cancels (PATCH) and deletes it, and
 * `/pending/merge` completes an `Unknown`-issuer request with an externally signed chain.
 */
import type { Router } from "../core/http.js";
import type { KeyVaultModel } from "./model.js";
import { badParameter, pendingNotFound } from "./core/errors.js";
import { bodyObject, type KeyVaultPipeline } from "./core/pipeline.js";
import { certificateBundle, ok, operationJson } from "./core/responses.js";

/** Registers the certificate operation routes (before `/certificates/:name/:version`). */
export function registerCertificateOperations(
  router: Router,
  pipeline: KeyVaultPipeline,
  model: KeyVaultModel,
): void {
  router.on(
    "POST",
    "/certificates/:name/create",
    pipeline.route("certificates/create/action", "certificates", async (req, vault) => {
      const body = bodyObject(req) as Parameters<KeyVaultModel["beginCreate"]>[2];
      const cert = await model.beginCreate(vault, req.params.name!, body);
      const p = cert.pending!;
      const apiVersion = req.query.get("api-version")!;
      return {
        status: 202,
        headers: {
          location: `${model.vaultUrl(vault)}/certificates/${cert.name}/pending?api-version=${apiVersion}&request_id=${p.requestId}`,
          "retry-after": "10",
        },
        body: operationJson(model, vault, cert.name, p),
      };
    }),
  );
  router.on(
    "GET",
    "/certificates/:name/pending",
    pipeline.route("certificates/read", "certificates", (req, vault) => {
      const cert = model.certificate(vault, req.params.name!);
      if (!cert?.pending) throw pendingNotFound(req.params.name!);
      return ok(operationJson(model, vault, cert.name, cert.pending));
    }),
  );
  router.on(
    "PATCH",
    "/certificates/:name/pending",
    pipeline.route("certificates/update/action", "certificates", (req, vault) => {
      if (bodyObject(req).cancellation_requested !== true)
        throw badParameter("Property cancellation_requested must be true.");
      const p = model.cancelPending(vault, req.params.name!);
      return ok(operationJson(model, vault, model.certificate(vault, req.params.name!)!.name, p));
    }),
  );
  router.on(
    "DELETE",
    "/certificates/:name/pending",
    pipeline.route("certificates/delete", "certificates", (req, vault) => {
      // The certificate is gone with its pending operation when it had no completed version.
      const name = model.certificate(vault, req.params.name!)?.name ?? req.params.name!;
      const p = model.deletePending(vault, req.params.name!);
      return ok(operationJson(model, vault, name, p));
    }),
  );
  router.on(
    "POST",
    "/certificates/:name/pending/merge",
    pipeline.route("certificates/create/action", "certificates", (req, vault) => {
      const cert = model.mergeCertificate(vault, req.params.name!, bodyObject(req));
      return ok(certificateBundle(model, vault, cert, cert.versions.at(-1)!), 201);
    }),
  );
}
