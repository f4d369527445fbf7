/**
 * Lab control routes of the Key Vault (control server): GET/POST /lab/keyvault/settings
 * {createDelayMs?, nearExpiryDays?, pageSize?}, POST /lab/keyvault/evaluate (run clock-driven
 * behaviour now), GET /lab/keyvault/notifications (what EmailContacts actions would have sent).
 */
import type { LabContext } from "../core/lab.js";
import type { KeyVaultModel } from "./model.js";
import type { KeyVaultSettings } from "./state.js";

/** Registers the control routes; `save` persists the settings, `evaluate` runs the clock-driven behaviour. */
export function registerControl(
  ctx: LabContext,
  model: KeyVaultModel,
  save: () => void,
  evaluate: () => Promise<void>,
): void {
  const r = ctx.servers.control.router;
  r.on("GET", "/lab/keyvault/settings", () => ({ status: 200, body: model.state.settings }));
  r.on("POST", "/lab/keyvault/settings", (req) => {
    const body = (req.body ?? {}) as Partial<KeyVaultSettings>;
    for (const k of ["createDelayMs", "nearExpiryDays", "pageSize"] as const) {
      const v = body[k];
      if (v !== undefined) {
        if (typeof v !== "number" || !Number.isFinite(v) || v < 0)
          return {
            status: 400,
            body: { error: { code: "BadRequest", message: `${k} must be a number >= 0.` } },
          };
        model.state.settings[k] = v;
      }
    }
    save();
    return { status: 200, body: model.state.settings };
  });
  r.on("POST", "/lab/keyvault/evaluate", async () => {
    await evaluate();
    return { status: 200, body: { now: ctx.clock.now().toISOString() } };
  });
  r.on("GET", "/lab/keyvault/notifications", () => ({
    status: 200,
    body: {
      value: model.vaults().flatMap((v) => model.vault(v)!.notifications.map((n) => ({ vault: v, ...n }))),
    },
  }));
}
