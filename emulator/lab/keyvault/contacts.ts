/** `/certificates/contacts`: get, set (PUT) and delete the vault's certificate contacts. */
import type { Router } from "../core/http.js";
import type { KeyVaultModel } from "./model.js";
import type { VaultContact } from "./state.js";
import { contactsNotFound } from "./core/errors.js";
import { bodyObject, type KeyVaultPipeline } from "./core/pipeline.js";
import { ok } from "./core/responses.js";

/** The contacts as Key Vault returns them. */
function contactsJson(model: KeyVaultModel, vault: string) {
  return {
    id: `${model.vaultUrl(vault)}/certificates/contacts`,
    contacts: model.vault(vault)!.contacts ?? [],
  };
}

/** Registers the contacts routes (before `/certificates/:name`, which would swallow them). */
export function registerContacts(router: Router, pipeline: KeyVaultPipeline, model: KeyVaultModel): void {
  router.on(
    "GET",
    "/certificates/contacts",
    pipeline.route("certificatecontacts/read", "certificatecontacts", (_req, vault) => {
      if (!model.vault(vault)!.contacts) throw contactsNotFound();
      return ok(contactsJson(model, vault));
    }),
  );
  router.on(
    "PUT",
    "/certificates/contacts",
    pipeline.route("certificatecontacts/write", "certificatecontacts", (req, vault) => {
      const contacts = bodyObject(req).contacts;
      model.setContacts(vault, Array.isArray(contacts) ? (contacts as VaultContact[]) : []);
      return ok(contactsJson(model, vault));
    }),
  );
  router.on(
    "DELETE",
    "/certificates/contacts",
    pipeline.route("certificatecontacts/write", "certificatecontacts", (_req, vault) => {
      const out = contactsJson(model, vault);
      model.deleteContacts(vault);
      return ok(out);
    }),
  );
}
