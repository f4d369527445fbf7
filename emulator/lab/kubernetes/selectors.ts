/** Label and field selectors, as list and watch take them (`app=web,tier!=db,env in (a,b),!legacy`). */
import type { KubeObject } from "./api.js";
import { badRequest } from "./errors.js";
import type { ResourceDef } from "./resources.js";

export type Matcher = (obj: KubeObject) => boolean;

/** Splits on commas outside parentheses. */
function terms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of s) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out.map((t) => t.trim()).filter((t) => t.length > 0);
}

export function parseLabelSelector(selector: string | null): Matcher {
  if (!selector) return () => true;
  const checks = terms(selector).map((term): ((labels: Record<string, string>) => boolean) => {
    let m = /^(\S+?)\s+(in|notin)\s+\((.*)\)$/.exec(term);
    if (m) {
      const [, key, op, list] = m;
      const values = list!.split(",").map((v) => v.trim());
      return op === "in"
        ? (l) => key! in l && values.includes(l[key!]!)
        : (l) => !(key! in l) || !values.includes(l[key!]!);
    }
    m = /^(\S+?)\s*(==|!=|=)\s*(\S*)$/.exec(term);
    if (m) {
      const [, key, op, value] = m;
      return op === "!=" ? (l) => l[key!] !== value : (l) => l[key!] === value;
    }
    m = /^!\s*(\S+)$/.exec(term);
    if (m) return (l) => !(m[1]! in l);
    if (/^[A-Za-z0-9./_-]+$/.test(term)) return (l) => term in l;
    throw badRequest(
      `unable to parse requirement: found '${term}', expected: !, identifier, or 'end of string'`,
    );
  });
  return (obj) => checks.every((c) => c(obj.metadata.labels ?? {}));
}

export function parseFieldSelector(selector: string | null, def: ResourceDef): Matcher {
  if (!selector) return () => true;
  const checks = terms(selector).map((term): Matcher => {
    const m = /^([^=!]+?)\s*(==|!=|=)\s*(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${selector}'; can't understand '${term}'`);
    const [, field, op, value] = m;
    const get =
      field === "metadata.name"
        ? (o: KubeObject) => o.metadata.name
        : field === "metadata.namespace"
          ? (o: KubeObject) => o.metadata.namespace ?? ""
          : def.fieldSelectors?.[field!];
    if (!get) throw badRequest(`field label not supported: ${field}`);
    return op === "!=" ? (o) => get(o) !== value : (o) => get(o) === value;
  });
  return (obj) => checks.every((c) => c(obj));
}
