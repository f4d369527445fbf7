/** Conversions between plain values and the worker protocol's `TypedData`, as the Functions host sends it. */
import type { RpcTypedData } from "./coreTypes.js";

/**
 * The `TypedData` the host sends for a binding value: bytes for binary data, the string itself for strings
 * when `rawString` is set (the library then tries `JSON.parse` on it, as the worker does), JSON otherwise.
 */
export function toTypedData(value: unknown, options: { rawString?: boolean } = {}): RpcTypedData | null {
  if (value === undefined || value === null) return null;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return { bytes: value };
  if (typeof value === "string" && options.rawString) return { string: value };
  return { json: JSON.stringify(value) };
}

/** The value a `TypedData` carries, decoded as the Functions host would read a worker's answer. */
export function fromTypedData(data: RpcTypedData | null | undefined): unknown {
  if (!data) return undefined;
  if (data.json !== undefined && data.json !== null) return JSON.parse(data.json);
  if (data.string !== undefined && data.string !== null) return data.string;
  if (data.bytes) return Buffer.from(data.bytes);
  if (data.stream) return Buffer.from(data.stream);
  if (data.int !== undefined && data.int !== null) return Number(data.int);
  if (data.double !== undefined && data.double !== null) return data.double;
  if (data.collectionString?.string) return data.collectionString.string;
  if (data.collectionDouble?.double) return data.collectionDouble.double;
  if (data.collectionSint64?.sint64) return data.collectionSint64.sint64.map(Number);
  if (data.collectionBytes?.bytes) return data.collectionBytes.bytes.map((b) => Buffer.from(b));
  if (data.http) return data.http;
  return undefined;
}

/** The bytes of a `TypedData` body (HTTP bodies arrive as bytes from `@azure/functions`). */
export function typedDataToBuffer(data: RpcTypedData | null | undefined): Buffer {
  if (!data) return Buffer.alloc(0);
  if (data.bytes) return Buffer.from(data.bytes);
  if (data.stream) return Buffer.from(data.stream);
  if (typeof data.string === "string") return Buffer.from(data.string, "utf8");
  if (typeof data.json === "string") return Buffer.from(data.json, "utf8");
  if (typeof data.int === "number") return Buffer.from(String(data.int));
  if (typeof data.double === "number") return Buffer.from(String(data.double));
  return Buffer.alloc(0);
}
