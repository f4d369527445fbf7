/**
 * Injected faults, per service and operation. A rule matches requests of one service whose
 * operation (an operation name a service passes, or "METHOD /path") matches `match` (a regular
 * expression, case-insensitive; absent means every request), and applies to the next `count` matches
 * (absent: until removed).
 *
 * Generic kinds are applied by `faultMiddleware`: `latency` (delay, then proceed), `status` (answer
 * with `status`, optional `retryAfterSeconds`, error `code` and `message`), `drop` (destroy the
 * connection). Service-specific kinds (`lroFailed`, `apimStuck`, `conflict`, …) are taken by the
 * service itself through `take`.
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { LabRequest, LabResponse, Middleware } from "./http.js";
import { STREAMED } from "./http.js";

export const faultRuleSchema = z.object({
  service: z.string().min(1),
  match: z.string().optional(),
  kind: z.string().min(1),
  count: z.number().int().positive().optional(),
  latencyMs: z.number().int().nonnegative().optional(),
  status: z.number().int().min(100).max(599).optional(),
  retryAfterSeconds: z.number().nonnegative().optional(),
  code: z.string().optional(),
  message: z.string().optional(),
  /** Free-form options for service-specific kinds. */
  options: z.record(z.string(), z.unknown()).optional(),
});

export type FaultRuleInput = z.infer<typeof faultRuleSchema>;
export interface FaultRule extends FaultRuleInput {
  id: string;
  /** How many times the rule has applied. */
  hits: number;
}

/** Builds the error body for a status fault, in the service's own error shape. */
export type ErrorShaper = (status: number, code: string, message: string) => unknown;

export class FaultRegistry {
  private rules: FaultRule[] = [];

  add(input: FaultRuleInput): FaultRule {
    const rule: FaultRule = { ...faultRuleSchema.parse(input), id: randomUUID(), hits: 0 };
    this.rules.push(rule);
    return rule;
  }

  list(): FaultRule[] {
    return this.rules.map((r) => ({ ...r }));
  }

  remove(id: string): boolean {
    const before = this.rules.length;
    this.rules = this.rules.filter((r) => r.id !== id);
    return this.rules.length < before;
  }

  clear(service?: string): void {
    this.rules = service ? this.rules.filter((r) => r.service !== service) : [];
  }

  /** Takes (consumes one use of) the first rule of `service` and `kind` matching `operation`. */
  take(service: string, operation: string, kinds: string | string[]): FaultRule | undefined {
    const wanted = Array.isArray(kinds) ? kinds : [kinds];
    const rule = this.rules.find(
      (r) =>
        r.service === service &&
        wanted.includes(r.kind) &&
        (r.match === undefined || new RegExp(r.match, "i").test(operation)),
    );
    if (!rule) return undefined;
    rule.hits++;
    if (rule.count !== undefined && rule.hits >= rule.count) this.remove(rule.id);
    return { ...rule };
  }
}

/** Applies latency, status and drop faults of `service` to every request of a router. */
export function faultMiddleware(faults: FaultRegistry, service: string, shape: ErrorShaper): Middleware {
  return async (req: LabRequest, next) => {
    const operation = `${req.method} ${req.path}`;
    const latency = faults.take(service, operation, "latency");
    if (latency?.latencyMs) await new Promise((r) => setTimeout(r, latency.latencyMs));
    if (faults.take(service, operation, "drop")) {
      req.raw.socket.destroy();
      return STREAMED;
    }
    const status = faults.take(service, operation, "status");
    if (status) return statusFault(status, shape);
    return next();
  };
}

function statusFault(rule: FaultRule, shape: ErrorShaper): LabResponse {
  const status = rule.status ?? 500;
  const code = rule.code ?? (status === 429 ? "TooManyRequests" : "InternalServerError");
  const headers: Record<string, string> = {};
  if (rule.retryAfterSeconds !== undefined) headers["retry-after"] = String(rule.retryAfterSeconds);
  return {
    status,
    headers,
    body: shape(status, code, rule.message ?? `Injected fault: ${code}.`),
  };
}
