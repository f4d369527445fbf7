/**
 * `/certificates`: list, import, list versions, get (latest or a version; while only a pending
 * version exists, its placeholder), update (PATCH) and delete (soft delete) certificates.
 */
import type { Router } from "../core/http.js";
import type { KeyVaultModel } from "./model.js";
import { RECOVERY_LEVEL } from "./wire.js";
import { bodyObject, type KeyVaultPipeline } from "./core/pipeline.js";
import {
  attributes,
  certificateBundle,
  deletedBundle,
  findCertificate,
  findVersion,
  ok,
  page,
  pendingBundle,
} from "./core/responses.js";

/** Registers the certificate routes (after the issuer, contacts, operation and policy routes). */
export function registerCertificates(router: Router, pipeline: KeyVaultPipeline, model: KeyVaultModel): void {
  router.on(
    "GET",
    "/certificates",
    pipeline.route("certificates/read", "certificates", (req, vault) => {
      const includePending = req.query.get("includePending") === "true";
      const items = Object.values(model.vault(vault)!.certificates)
        .filter((c) => c.versions.length > 0 || includePending)
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((c) => {
          const latest = c.versions.at(-1);
          return {
            id: `${model.vaultUrl(vault)}/certificates/${c.name}`,
            ...(latest
              ? { x5t: model.info(vault, c, latest).x5t, attributes: attributes(latest) }
              : { attributes: { enabled: false, recoveryLevel: RECOVERY_LEVEL } }),
            ...(c.tags ? { tags: c.tags } : {}),
          };
        });
      return page(model, req, items);
    }),
  );
  router.on(
    "POST",
    "/certificates/:name/import",
    pipeline.route("certificates/import/action", "certificates", (req, vault) => {
      const cert = model.importCertificate(vault, req.params.name!, bodyObject(req));
      return ok(certificateBundle(model, vault, cert, cert.versions.at(-1)!));
    }),
  );
  router.on(
    "GET",
    "/certificates/:name/versions",
    pipeline.route("certificates/read", "certificates", (req, vault) => {
      const cert = findCertificate(model, vault, req.params.name!);
      return page(
        model,
        req,
        cert.versions.map((v) => ({
          id: `${model.vaultUrl(vault)}/certificates/${cert.name}/${v.version}`,
          x5t: model.info(vault, cert, v).x5t,
          attributes: attributes(v),
          ...(v.tags ? { tags: v.tags } : {}),
        })),
      );
    }),
  );
  const getCertificate = pipeline.route("certificates/read", "certificates", (req, vault) => {
    const cert = findCertificate(model, vault, req.params.name!);
    if (!req.params.version && cert.versions.length === 0 && cert.pending)
      return ok(pendingBundle(model, vault, cert, cert.pending));
    return ok(certificateBundle(model, vault, cert, findVersion(cert, req.params.version || undefined)));
  });
  router.on("GET", "/certificates/:name", getCertificate);
  router.on("GET", "/certificates/:name/:version", getCertificate);
  const updateCertificate = pipeline.route("certificates/update/action", "certificates", (req, vault) => {
    const { cert, version } = model.updateProperties(
      vault,
      req.params.name!,
      req.params.version || undefined,
      bodyObject(req),
    );
    return ok(certificateBundle(model, vault, cert, version));
  });
  router.on("PATCH", "/certificates/:name", updateCertificate);
  router.on("PATCH", "/certificates/:name/:version", updateCertificate);
  router.on(
    "DELETE",
    "/certificates/:name",
    pipeline.route("certificates/delete", "certificates", (req, vault) =>
      ok(deletedBundle(model, vault, model.deleteCertificate(vault, req.params.name!))),
    ),
  );
}
