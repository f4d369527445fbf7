/**
 * `/secrets`: the certificates' managed secrets: list, list versions (metadata only) and get (the
 * value: PFX or PEM per the policy's content type; 403 SecretDisabled for a disabled version).
 */
import type { Router } from "../core/http.js";
import type { KeyVaultModel } from "./model.js";
import type { StoredCertificate, StoredVersion } from "./state.js";
import { secretDisabled, secretIdNotFound, secretNotFound } from "./core/errors.js";
import type { KeyVaultPipeline } from "./core/pipeline.js";
import { attributes, ok, page } from "./core/responses.js";

/** The secret's metadata as list operations return it. */
function secretItem(id: string, v: StoredVersion, tags: Record<string, string> | undefined) {
  return {
    id,
    attributes: attributes(v),
    contentType: v.contentType,
    managed: true,
    ...(tags ? { tags } : {}),
  };
}

/** The managed secret of certificate `name` (one with a completed version), or Key Vault's 404. */
function findSecret(model: KeyVaultModel, vault: string, name: string): StoredCertificate {
  const cert = model.certificate(vault, name);
  if (!cert || cert.versions.length === 0) throw secretNotFound(name);
  return cert;
}

/** Registers the secret routes. */
export function registerSecrets(router: Router, pipeline: KeyVaultPipeline, model: KeyVaultModel): void {
  router.on(
    "GET",
    "/secrets",
    pipeline.route("secrets/readMetadata/action", "secrets", (req, vault) =>
      page(
        model,
        req,
        Object.values(model.vault(vault)!.certificates)
          .filter((c) => c.versions.length > 0)
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((c) => secretItem(`${model.vaultUrl(vault)}/secrets/${c.name}`, c.versions.at(-1)!, c.tags)),
      ),
    ),
  );
  router.on(
    "GET",
    "/secrets/:name/versions",
    pipeline.route("secrets/readMetadata/action", "secrets", (req, vault) => {
      const cert = findSecret(model, vault, req.params.name!);
      return page(
        model,
        req,
        cert.versions.map((v) =>
          secretItem(`${model.vaultUrl(vault)}/secrets/${cert.name}/${v.version}`, v, v.tags),
        ),
      );
    }),
  );
  const getSecret = pipeline.route("secrets/getSecret/action", "secrets", (req, vault) => {
    const cert = findSecret(model, vault, req.params.name!);
    const version = req.params.version || undefined;
    const v = version ? cert.versions.find((x) => x.version === version) : cert.versions.at(-1);
    if (!v) throw secretIdNotFound(`${cert.name}/${version}`);
    if (!v.enabled) throw secretDisabled();
    const base = model.vaultUrl(vault);
    const tags = v.tags ?? cert.tags;
    return ok({
      value: model.secretValue(v),
      contentType: v.contentType,
      id: `${base}/secrets/${cert.name}/${v.version}`,
      attributes: attributes(v),
      ...(tags ? { tags } : {}),
      kid: `${base}/keys/${cert.name}/${v.version}`,
      managed: true,
    });
  });
  router.on("GET", "/secrets/:name", getSecret);
  router.on("GET", "/secrets/:name/:version", getSecret);
}
