/**
 * Text of loosely typed values the host reads (function metadata, local.settings.json Values,
 * Table entity properties): strings as they are, other primitives through `String`, objects as
 * JSON, and `fallback` for null and undefined.
 */
export function asText(value: unknown, fallback = ""): string {
  if (value === undefined || value === null) return fallback;
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint")
    return String(value);
  if (value instanceof Date) return value.toISOString();
  return JSON.stringify(value) ?? fallback;
}
