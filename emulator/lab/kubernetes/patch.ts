/**
 * The three PATCH flavours the API server accepts besides apply: RFC 6902 JSON patch, RFC 7396 JSON
 * merge patch, and strategic merge patch (merge patch, except that lists with a merge key — Deployment
 * containers by name — merge item by item, and `$patch` / `$setElementOrder` / `$retainKeys`
 * directives). Pure functions over plain JSON values.
 */
import { listKey } from "./resources.js";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => structuredClone(v);

/** A patch that cannot be applied; the server answers 422 (JSON patch) or 400. */
export class PatchError extends Error {}

// ---------------------------------------------------------------- RFC 6902

interface Op {
  op: string;
  path: string;
  from?: string;
  value?: Json;
}

function pointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) throw new PatchError(`invalid JSON pointer "${path}"`);
  return path
    .slice(1)
    .split("/")
    .map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function parentOf(doc: Json, tokens: string[], path: string): { parent: JsonObject | Json[]; key: string } {
  let cur: Json = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(t)] as Json;
    else if (isObject(cur)) cur = cur[t] as Json;
    else cur = undefined as unknown as Json;
    if (cur === undefined) throw new PatchError(`doc is missing path: "${path}": missing value`);
  }
  if (!Array.isArray(cur) && !isObject(cur))
    throw new PatchError(`doc is missing path: "${path}": missing value`);
  return { parent: cur, key: tokens[tokens.length - 1]! };
}

function getAt(doc: Json, path: string): Json {
  let cur: Json = doc;
  for (const t of pointer(path)) {
    const next: Json | undefined = Array.isArray(cur) ? cur[Number(t)] : isObject(cur) ? cur[t] : undefined;
    if (next === undefined) throw new PatchError(`doc is missing path: "${path}": missing value`);
    cur = next;
  }
  return cur;
}

function arrayIndex(arr: Json[], key: string, path: string, forInsert: boolean): number {
  if (forInsert && key === "-") return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(key)) throw new PatchError(`invalid array index "${key}" in "${path}"`);
  const i = Number(key);
  if (i > arr.length || (!forInsert && i === arr.length))
    throw new PatchError(`unable to access invalid index: ${i}`);
  return i;
}

function addAt(doc: Json, path: string, value: Json): Json {
  const tokens = pointer(path);
  if (tokens.length === 0) return value;
  const { parent, key } = parentOf(doc, tokens, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, path, true), 0, value);
  else parent[key] = value;
  return doc;
}

function removeAt(doc: Json, path: string): Json {
  const tokens = pointer(path);
  if (tokens.length === 0) throw new PatchError("cannot remove the whole document");
  const { parent, key } = parentOf(doc, tokens, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, path, false), 1);
  else {
    if (!(key in parent)) throw new PatchError(`Unable to remove nonexistent key: ${key}: missing value`);
    delete parent[key];
  }
  return doc;
}

const deepEqual = (a: unknown, b: unknown): boolean => {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && deepEqual(a[k], b[k]));
  }
  return false;
};
export { deepEqual };

/** Applies an RFC 6902 operations array to a copy of `doc`. */
export function applyJsonPatch(doc: Json, ops: unknown): Json {
  if (!Array.isArray(ops))
    throw new PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch");
  let out = clone(doc);
  for (const raw of ops as Op[]) {
    if (!isObject(raw) || typeof raw.op !== "string" || typeof raw.path !== "string")
      throw new PatchError("invalid JSON patch operation");
    switch (raw.op) {
      case "add":
        if (!("value" in raw)) throw new PatchError(`missing value in add operation at "${raw.path}"`);
        out = addAt(out, raw.path, clone(raw.value as Json));
        break;
      case "remove":
        out = removeAt(out, raw.path);
        break;
      case "replace": {
        getAt(out, raw.path);
        const tokens = pointer(raw.path);
        if (tokens.length === 0) out = clone(raw.value as Json);
        else {
          const { parent, key } = parentOf(out, tokens, raw.path);
          if (Array.isArray(parent))
            parent[arrayIndex(parent, key, raw.path, false)] = clone(raw.value as Json);
          else parent[key] = clone(raw.value as Json);
        }
        break;
      }
      case "move": {
        const value = clone(getAt(out, raw.from ?? ""));
        out = removeAt(out, raw.from ?? "");
        out = addAt(out, raw.path, value);
        break;
      }
      case "copy":
        out = addAt(out, raw.path, clone(getAt(out, raw.from ?? "")));
        break;
      case "test":
        if (!deepEqual(getAt(out, raw.path), raw.value))
          throw new PatchError(`testing value ${raw.path} failed: test failed`);
        break;
      default:
        throw new PatchError(`Unexpected kind: ${raw.op}`);
    }
  }
  return out;
}

// ---------------------------------------------------------------- RFC 7396

/** Applies an RFC 7396 merge patch (null deletes, objects merge, everything else replaces). */
export function applyMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k] ?? null, v);
  }
  return out;
}

// ---------------------------------------------------------------- strategic merge

/** Applies a strategic merge patch; `path` is the field-name path of `target` in the object. */
export function applyStrategicMergePatch(target: Json, patch: Json, path: string[] = []): Json {
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === "replace") {
    const rest = { ...patch };
    delete rest.$patch;
    return stripDirectives(rest);
  }
  if (patch.$patch === "delete") return null;
  const out: JsonObject = isObject(target) ? clone(target) : {};
  const retain = Array.isArray(patch.$retainKeys) ? patch.$retainKeys.map(String) : undefined;
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith("$setElementOrder/") || k === "$retainKeys" || k === "$patch") continue;
    if (k.startsWith("$deleteFromPrimitiveList/")) {
      const field = k.slice("$deleteFromPrimitiveList/".length);
      const remove = Array.isArray(v) ? v : [];
      const cur = out[field];
      if (Array.isArray(cur)) out[field] = cur.filter((x) => !remove.some((r) => deepEqual(r, x)));
      continue;
    }
    const childPath = [...path, k];
    if (v === null) {
      delete out[k];
    } else if (Array.isArray(v) && listKey(childPath)) {
      out[k] = mergeList(out[k], v, childPath);
    } else if (isObject(v)) {
      const merged = applyStrategicMergePatch(out[k] ?? null, v, childPath);
      if (merged === null) delete out[k];
      else out[k] = merged;
    } else {
      out[k] = clone(v);
    }
  }
  if (retain) for (const k of Object.keys(out)) if (!retain.includes(k)) delete out[k];
  return out;
}

function mergeList(current: Json | undefined, patch: Json[], path: string[]): Json[] {
  const key = listKey(path)!;
  if (patch.some((p) => isObject(p) && p.$patch === "replace"))
    return patch.filter((p) => !(isObject(p) && p.$patch === "replace")).map((p) => stripDirectives(p));
  const out: Json[] = Array.isArray(current) ? clone(current) : [];
  for (const item of patch) {
    if (!isObject(item)) {
      out.push(clone(item));
      continue;
    }
    const index = out.findIndex((c) => isObject(c) && deepEqual(c[key], item[key]));
    if (item.$patch === "delete") {
      if (index >= 0) out.splice(index, 1);
      continue;
    }
    if (index >= 0) out[index] = applyStrategicMergePatch(out[index]!, item, path);
    else out.push(stripDirectives(item));
  }
  return out;
}

function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith("$")) out[k] = stripDirectives(x);
  return out;
}
