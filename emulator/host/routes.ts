/**
 * HTTP trigger route templates, with the ASP.NET Core syntax the Functions host uses: literal segments,
 * `{name}`, optional `{name?}`, defaults `{name=value}`, catch-all `{*rest}`, and inline constraints such as
 * `{id:int}`, `{id:min(1)}`, `{slug:regex(^[a-z]+$)}`.
 */

type Constraint = (value: string) => boolean;

interface Parameter {
  name: string;
  optional: boolean;
  catchAll: boolean;
  defaultValue?: string;
  constraints: Constraint[];
}

/** A parsed route template. */
export interface RouteTemplate {
  readonly template: string;
  /** Route parameter values for `path` (decoded, without the route prefix), or undefined when it does not match. */
  match(path: string): Record<string, string> | undefined;
  /** Sort key: lower sorts first (more specific routes win, as in ASP.NET routing). */
  readonly precedence: number[];
}

const numberPattern = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const guidPattern =
  /^(\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}|[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12})$/i;

function intRange(min: bigint, max: bigint): Constraint {
  return (v) => /^[-+]?\d+$/.test(v) && BigInt(v) >= min && BigInt(v) <= max;
}

function numericArgs(name: string, args: string | undefined, count: number): number[] {
  const parts = (args ?? "").split(",").map((a) => a.trim());
  const nums = parts.map(Number);
  if (parts.length !== count || nums.some((n) => !Number.isFinite(n))) {
    throw new Error(
      `The route constraint '${name}' needs ${count} numeric argument(s), got '${args ?? ""}'.`,
    );
  }
  return nums;
}

function constraintFor(spec: string): Constraint {
  const m = /^([a-zA-Z]+)(?:\((.*)\))?$/s.exec(spec);
  if (!m) throw new Error(`The route constraint '${spec}' is not valid.`);
  const name = (m[1] ?? "").toLowerCase();
  const args = m[2];
  switch (name) {
    case "int":
      return intRange(-(2n ** 31n), 2n ** 31n - 1n);
    case "long":
      return intRange(-(2n ** 63n), 2n ** 63n - 1n);
    case "bool":
      return (v) => /^(true|false)$/i.test(v);
    case "guid":
      return (v) => guidPattern.test(v);
    case "datetime":
      return (v) => !Number.isNaN(Date.parse(v));
    case "decimal":
    case "double":
    case "float":
      return (v) => numberPattern.test(v);
    case "alpha":
      return (v) => /^[a-z]+$/i.test(v);
    case "minlength": {
      const [n = 0] = numericArgs(name, args, 1);
      return (v) => v.length >= n;
    }
    case "maxlength": {
      const [n = 0] = numericArgs(name, args, 1);
      return (v) => v.length <= n;
    }
    case "length": {
      const parts = (args ?? "").split(",");
      const [a = 0, b = a] = numericArgs(name, args, parts.length === 2 ? 2 : 1);
      return (v) => v.length >= a && v.length <= b;
    }
    case "min": {
      const [n = 0] = numericArgs(name, args, 1);
      return (v) => /^[-+]?\d+$/.test(v) && Number(v) >= n;
    }
    case "max": {
      const [n = 0] = numericArgs(name, args, 1);
      return (v) => /^[-+]?\d+$/.test(v) && Number(v) <= n;
    }
    case "range": {
      const [a = 0, b = 0] = numericArgs(name, args, 2);
      return (v) => /^[-+]?\d+$/.test(v) && Number(v) >= a && Number(v) <= b;
    }
    case "regex": {
      const re = new RegExp(args ?? "", "i");
      return (v) => re.test(v);
    }
    default:
      throw new Error(`The route constraint '${name}' is not supported.`);
  }
}

/** Splits `name:c1:c2(args)` on the colons that are outside parentheses. */
function splitConstraints(body: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of body) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === ":" && depth === 0) {
      parts.push(current);
      current = "";
    } else current += ch;
  }
  parts.push(current);
  return parts;
}

function parseParameter(body: string): Parameter {
  const [head = "", ...constraintSpecs] = splitConstraints(body);
  let name = head.trim();
  let catchAll = false;
  let optional = false;
  let defaultValue: string | undefined;
  if (name.startsWith("**")) {
    catchAll = true;
    name = name.slice(2);
  } else if (name.startsWith("*")) {
    catchAll = true;
    name = name.slice(1);
  }
  const eq = name.indexOf("=");
  if (eq >= 0) {
    defaultValue = name.slice(eq + 1);
    name = name.slice(0, eq);
  }
  // `{id:int?}`: the optional marker may follow the last constraint.
  const last = constraintSpecs.length - 1;
  if (name.endsWith("?")) {
    optional = true;
    name = name.slice(0, -1);
  } else if (last >= 0 && constraintSpecs[last]?.endsWith("?")) {
    optional = true;
    constraintSpecs[last] = constraintSpecs[last].slice(0, -1);
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    throw new Error(`The route parameter name '${name}' is not valid.`);
  return { name, optional, catchAll, defaultValue, constraints: constraintSpecs.map(constraintFor) };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Parses one segment into literal text and parameters (`{{` and `}}` are literal braces). */
function tokenizeSegment(segment: string): (string | Parameter)[] {
  const tokens: (string | Parameter)[] = [];
  let literal = "";
  for (let i = 0; i < segment.length; i++) {
    const ch = segment[i];
    if (ch === "{" && segment[i + 1] === "{") {
      literal += "{";
      i++;
    } else if (ch === "}" && segment[i + 1] === "}") {
      literal += "}";
      i++;
    } else if (ch === "{") {
      let depth = 0;
      let j = i + 1;
      for (; j < segment.length; j++) {
        const c = segment[j];
        if (c === "(") depth++;
        else if (c === ")") depth--;
        else if (c === "}" && depth === 0) break;
      }
      if (j >= segment.length) throw new Error(`The route segment '${segment}' has an unclosed '{'.`);
      if (literal) tokens.push(literal);
      literal = "";
      tokens.push(
        parseParameter(
          segment
            .slice(i + 1, j)
            .replace(/\{\{/g, "{")
            .replace(/\}\}/g, "}"),
        ),
      );
      i = j;
    } else if (ch === "}") {
      throw new Error(`The route segment '${segment}' has an unmatched '}'.`);
    } else literal += ch;
  }
  if (literal) tokens.push(literal);
  return tokens;
}

/** Parses a route template (without the `api/` prefix). Throws with the reason when it is not valid. */
export function parseRoute(template: string): RouteTemplate {
  const segments = template
    .replace(/^\/+|\/+$/g, "")
    .split("/")
    .filter((s) => s.length > 0);
  const params: Parameter[] = [];
  const groups: string[] = [];
  const precedence: number[] = [];
  let pattern = "^";
  segments.forEach((segment, index) => {
    const tokens = tokenizeSegment(segment);
    const only = tokens.length === 1 && typeof tokens[0] !== "string" ? tokens[0] : undefined;
    for (const t of tokens) {
      if (typeof t !== "string" && t.catchAll && index !== segments.length - 1) {
        throw new Error(
          `The catch-all parameter '${t.name}' must be the last segment of the route '${template}'.`,
        );
      }
    }
    if (only) {
      const group = `p${params.length}`;
      params.push(only);
      groups.push(group);
      const valuePattern = only.catchAll ? ".*" : "[^/]+";
      const optional = only.optional || only.catchAll || only.defaultValue !== undefined;
      pattern += optional ? `(?:/(?<${group}>${valuePattern}))?` : `/(?<${group}>${valuePattern})`;
      precedence.push(only.catchAll ? 5 : optional ? 4 : only.constraints.length > 0 ? 2 : 3);
      return;
    }
    pattern += "/";
    let complex = false;
    for (const t of tokens) {
      if (typeof t === "string") pattern += escapeRegExp(t);
      else {
        const group = `p${params.length}`;
        params.push(t);
        groups.push(group);
        pattern += `(?<${group}>[^/]+?)`;
        complex = true;
      }
    }
    precedence.push(complex ? 1 : 0);
  });
  pattern += "/?$";
  const regex = new RegExp(pattern, "i");
  return {
    template,
    precedence,
    match(path: string) {
      const m = regex.exec(path.startsWith("/") || path === "" ? path : `/${path}`);
      if (!m) return undefined;
      const values: Record<string, string> = {};
      for (let i = 0; i < params.length; i++) {
        const p = params[i] as Parameter;
        const raw = m.groups?.[groups[i] as string];
        let value: string | undefined;
        try {
          value = raw === undefined || raw === "" ? p.defaultValue : decodeURIComponent(raw);
        } catch {
          return undefined;
        }
        if (value === undefined) continue;
        if (!p.constraints.every((c) => c(value))) return undefined;
        values[p.name] = value;
      }
      return values;
    },
  };
}

/** Orders routes so that the most specific is tried first (literal before constrained before plain before optional). */
export function compareRoutes(a: RouteTemplate, b: RouteTemplate): number {
  const n = Math.max(a.precedence.length, b.precedence.length);
  for (let i = 0; i < n; i++) {
    const x = a.precedence[i] ?? -1;
    const y = b.precedence[i] ?? -1;
    if (x !== y) return x - y;
  }
  return 0;
}
