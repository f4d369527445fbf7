/**
 * The lab control API (HTTPS, loopback only): faults, the lab clock, identities, role assignments and
 * test tokens. Other services add their own routes under `/lab/<service>/`.
 */
import { z } from "zod";
import { faultRuleSchema } from "../core/faults.js";
import type { LabContext, LabService } from "../core/lab.js";
import type { LabResponse } from "../core/http.js";

const bad = (message: string): LabResponse => ({
  status: 400,
  body: { error: { code: "BadRequest", message } },
});

const advanceSchema = z.object({
  seconds: z.number().nonnegative().optional(),
  days: z.number().nonnegative().optional(),
});
const assignmentSchema = z.object({
  principal: z.string().min(1),
  roleName: z.string().min(1),
  scope: z.string().min(1),
});
const tokenSchema = z.object({
  identity: z.string().min(1),
  audience: z.string().min(1),
  lifetimeSeconds: z.number().int().optional(),
});

export function controlService(): LabService {
  return {
    name: "control",
    start(ctx: LabContext) {
      const r = ctx.servers.control.router;
      r.on("GET", "/lab/health", () => ({
        status: 200,
        body: { status: "ok", now: ctx.clock.now().toISOString() },
      }));

      r.on("GET", "/lab/faults", () => ({ status: 200, body: { value: ctx.faults.list() } }));
      r.on("POST", "/lab/faults", (req) => {
        const parsed = faultRuleSchema.safeParse(req.body);
        if (!parsed.success)
          return bad(
            `Invalid fault rule: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
          );
        return { status: 201, body: ctx.faults.add(parsed.data) };
      });
      r.on("DELETE", "/lab/faults", (req) => {
        ctx.faults.clear(req.query.get("service") ?? undefined);
        return { status: 204 };
      });
      r.on("DELETE", "/lab/faults/:id", (req) =>
        ctx.faults.remove(req.params.id!)
          ? { status: 204 }
          : { status: 404, body: { error: { code: "NotFound", message: "No such fault." } } },
      );

      r.on("GET", "/lab/clock", () => ({
        status: 200,
        body: { now: ctx.clock.now().toISOString(), offsetMs: ctx.clock.offset },
      }));
      r.on("POST", "/lab/clock/advance", (req) => {
        const parsed = advanceSchema.safeParse(req.body ?? {});
        if (!parsed.success) return bad("Body must be {seconds?: number, days?: number}.");
        const ms = ((parsed.data.seconds ?? 0) + (parsed.data.days ?? 0) * 86_400) * 1000;
        return {
          status: 200,
          body: { now: ctx.clock.advance(ms).toISOString(), offsetMs: ctx.clock.offset },
        };
      });

      r.on("GET", "/lab/identities", () => ({ status: 200, body: { value: ctx.auth.identities() } }));
      r.on("GET", "/lab/roleAssignments", () => ({ status: 200, body: { value: ctx.auth.assignments() } }));
      r.on("POST", "/lab/roleAssignments", (req) => {
        const parsed = assignmentSchema.safeParse(req.body);
        if (!parsed.success) return bad("Body must be {principal, roleName, scope}.");
        const identity = ctx.auth.identity(parsed.data.principal);
        if (!identity) return bad(`Unknown identity '${parsed.data.principal}'.`);
        try {
          return {
            status: 201,
            body: ctx.auth.assign(identity.objectId, parsed.data.roleName, parsed.data.scope),
          };
        } catch (e) {
          return bad((e as Error).message);
        }
      });
      r.on("DELETE", "/lab/roleAssignments", (req) => {
        const principal = req.query.get("principal");
        const identity = principal ? ctx.auth.identity(principal) : undefined;
        if (principal && !identity) return bad(`Unknown identity '${principal}'.`);
        const removed = ctx.auth.unassign({
          principalId: identity?.objectId,
          roleName: req.query.get("roleName") ?? undefined,
          scope: req.query.get("scope") ?? undefined,
        });
        return { status: 200, body: { removed } };
      });

      r.on("POST", "/lab/tokens", async (req) => {
        const parsed = tokenSchema.safeParse(req.body);
        if (!parsed.success) return bad("Body must be {identity, audience, lifetimeSeconds?}.");
        const identity = ctx.auth.identity(parsed.data.identity);
        if (!identity) return bad(`Unknown identity '${parsed.data.identity}'.`);
        const { token, expiresOn } = await ctx.auth.issueToken(
          identity,
          parsed.data.audience,
          parsed.data.lifetimeSeconds,
        );
        return { status: 200, body: { token, expiresOn } };
      });
    },
  };
}
