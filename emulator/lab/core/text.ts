/**
 * The text of a value read from a request body, for a message or a string field: a scalar as
 * `String()` gives it; an object or array as its JSON (`String()` would say `[object Object]`).
 */
export function textOf(v: unknown): string {
  switch (typeof v) {
    case "string":
      return v;
    case "number":
    case "boolean":
    case "bigint":
    case "symbol":
      return String(v);
    case "undefined":
      return "undefined";
    default:
      return v === null ? "null" : (JSON.stringify(v) ?? "");
  }
}
