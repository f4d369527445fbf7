/**
 * Field management (structured-merge-diff, simplified to what the lab serves): the set of fields an
 * object or apply configuration sets, `managedFields` entries in FieldsV1 form, server-side apply
 * with conflicts between managers, and ownership changes on ordinary writes.
 *
 * Paths are lists of FieldsV1 tokens: `f:<field>` for struct fields and map keys, `k:{"name":"app"}`
 * for items of associative lists (lists with a merge key, see resources.ts); other lists are atomic
 * leaves. An item path is owned as a member (`.` in FieldsV1) besides its own fields.
 */
import type { ManagedFieldsEntry } from "./api.js";
import { applyStrategicMergePatch, deepEqual, type Json } from "./patch.js";
import { listKey } from "./resources.js";

type JsonObject = { [key: string]: Json };
const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

/** Paths that are never managed (identity and server-owned metadata, status). */
const IGNORED_TOP = new Set(["apiVersion", "kind", "status"]);
const IGNORED_META = new Set([
  "name",
  "namespace",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "managedFields",
  "selfLink",
]);

/** A set of field paths, each serialised as a JSON array of tokens. */
export type FieldSet = Set<string>;

const keyOf = (tokens: string[]) => JSON.stringify(tokens);
const tokensOf = (key: string) => JSON.parse(key) as string[];

/** The fields `value` sets (leaves and associative-list members). */
export function fieldSetOf(value: Json): FieldSet {
  const out: FieldSet = new Set();
  walk(value, [], [], out, true);
  return out;
}

function walk(value: Json, tokens: string[], names: string[], out: FieldSet, top: boolean): void {
  if (isObject(value)) {
    const entries = Object.entries(value);
    if (entries.length === 0 && tokens.length > 0) out.add(keyOf(tokens));
    for (const [k, v] of entries) {
      if (top && IGNORED_TOP.has(k)) continue;
      if (names.length === 1 && names[0] === "metadata" && IGNORED_META.has(k)) continue;
      const childNames = [...names, k];
      const childTokens = [...tokens, `f:${k}`];
      const key = listKey(childNames);
      if (Array.isArray(v) && key) {
        for (const item of v) {
          if (!isObject(item) || item[key] === undefined) continue;
          const itemTokens = [...childTokens, `k:${JSON.stringify({ [key]: item[key] })}`];
          out.add(keyOf(itemTokens));
          walk(item, itemTokens, childNames, out, false);
        }
        if (v.length === 0) out.add(keyOf(childTokens));
      } else if (isObject(v)) {
        walk(v, childTokens, childNames, out, false);
      } else {
        out.add(keyOf(childTokens));
      }
    }
  } else if (tokens.length > 0) {
    out.add(keyOf(tokens));
  }
}

/** The value at a token path, or undefined. */
export function valueAt(obj: Json, tokens: string[]): Json | undefined {
  let cur: Json | undefined = obj;
  for (const t of tokens) {
    if (cur === undefined || cur === null) return undefined;
    if (t.startsWith("f:")) {
      cur = isObject(cur) ? cur[t.slice(2)] : undefined;
    } else if (t.startsWith("k:")) {
      const k = JSON.parse(t.slice(2)) as JsonObject;
      cur = Array.isArray(cur)
        ? cur.find((item) => isObject(item) && Object.entries(k).every(([kk, kv]) => deepEqual(item[kk], kv)))
        : undefined;
    } else return undefined;
  }
  return cur;
}

/** Removes the field at a token path from `obj` (in place). */
function removeAt(obj: Json, tokens: string[]): void {
  const parent = valueAt(obj, tokens.slice(0, -1));
  const last = tokens[tokens.length - 1]!;
  if (last.startsWith("f:") && isObject(parent)) delete parent[last.slice(2)];
  else if (last.startsWith("k:") && Array.isArray(parent)) {
    const item = valueAt(obj, tokens);
    const i = parent.indexOf(item as Json);
    if (i >= 0) parent.splice(i, 1);
  }
}

/** `.data.tls.crt`, `.spec.template.spec.containers[name="app"].image`, as fieldpath prints paths. */
export function pathString(key: string): string {
  return tokensOf(key)
    .map((t) => {
      if (t.startsWith("f:")) return `.${t.slice(2)}`;
      const k = JSON.parse(t.slice(2)) as JsonObject;
      return `[${Object.entries(k)
        .map(([kk, kv]) => `${kk}=${JSON.stringify(kv)}`)
        .join(",")}]`;
    })
    .join("");
}

/** FieldsV1 tree of a set. */
export function toFieldsV1(set: FieldSet): Record<string, unknown> {
  interface Node {
    self: boolean;
    children: Map<string, Node>;
  }
  const root: Node = { self: false, children: new Map() };
  for (const key of [...set].sort()) {
    let node = root;
    for (const t of tokensOf(key)) {
      let next = node.children.get(t);
      if (!next) node.children.set(t, (next = { self: false, children: new Map() }));
      node = next;
    }
    node.self = true;
  }
  const render = (n: Node): Record<string, unknown> => {
    const o: Record<string, unknown> = {};
    if (n.self && n.children.size > 0) o["."] = {};
    for (const [t, c] of n.children) o[t] = render(c);
    return o;
  };
  return render(root);
}

/** The set a FieldsV1 tree describes. */
export function fromFieldsV1(tree: unknown, prefix: string[] = [], out: FieldSet = new Set()): FieldSet {
  if (!isObject(tree)) return out;
  const keys = Object.keys(tree);
  if (keys.length === 0 && prefix.length > 0) out.add(keyOf(prefix));
  for (const k of keys) {
    if (k === ".") out.add(keyOf(prefix));
    else fromFieldsV1(tree[k], [...prefix, k], out);
  }
  return out;
}

/** A manager as conflict messages print it: `"kubectl"` (apply) or `"kubectl-patch" using v1` (update). */
export function managerLabel(
  e: Pick<ManagedFieldsEntry, "manager" | "operation" | "apiVersion" | "subresource">,
): string {
  let s = JSON.stringify(e.manager);
  if (e.subresource) s += ` with subresource ${JSON.stringify(e.subresource)}`;
  if (e.operation === "Update") s += ` using ${e.apiVersion}`;
  return s;
}

const sameManager = (
  a: ManagedFieldsEntry,
  b: { manager: string; operation: string; subresource?: string },
) =>
  a.manager === b.manager && a.operation === b.operation && (a.subresource ?? "") === (b.subresource ?? "");

const isLeafPath = (key: string) => !tokensOf(key).at(-1)!.startsWith("k:");

export interface ApplyResult {
  object: JsonObject;
  managedFields: ManagedFieldsEntry[];
  conflicts: Array<{ manager: string; path: string }>;
}

/**
 * Server-side apply of `config` by `manager` on `current` (undefined: the object is created).
 * Conflicts: fields the config sets to a value other than the current one while another manager owns
 * them. With `force`, those fields change owner; otherwise the result lists the conflicts.
 */
export function serverSideApply(
  current: JsonObject | undefined,
  config: JsonObject,
  manager: string,
  apiVersion: string,
  force: boolean,
  time: string,
): ApplyResult {
  const entries: ManagedFieldsEntry[] = structuredClone(
    ((current?.metadata as JsonObject | undefined)?.managedFields as unknown as ManagedFieldsEntry[]) ?? [],
  );
  const applied = fieldSetOf(config);
  const me = { manager, operation: "Apply" as const };
  const conflicts: Array<{ manager: string; path: string }> = [];
  const conflicting = new Map<ManagedFieldsEntry, string[]>();
  if (current) {
    for (const e of entries) {
      if (sameManager(e, me)) continue;
      const owned = fromFieldsV1(e.fieldsV1);
      for (const p of applied) {
        if (!owned.has(p) || !isLeafPath(p)) continue;
        if (deepEqual(valueAt(config, tokensOf(p)), valueAt(current, tokensOf(p)))) continue;
        conflicts.push({ manager: managerLabel(e), path: pathString(p) });
        conflicting.set(e, [...(conflicting.get(e) ?? []), p]);
      }
    }
  }
  if (conflicts.length > 0 && !force) return { object: current ?? config, managedFields: entries, conflicts };

  // Forced: the conflicting fields change owner.
  for (const [e, paths] of conflicting) {
    const owned = fromFieldsV1(e.fieldsV1);
    for (const p of paths) owned.delete(p);
    e.fieldsV1 = toFieldsV1(owned);
  }
  const mine = entries.find((e) => sameManager(e, me));
  const previouslyMine = mine ? fromFieldsV1(mine.fieldsV1) : new Set<string>();
  const ownedByOthers = new Set<string>();
  for (const e of entries)
    if (!sameManager(e, me)) for (const p of fromFieldsV1(e.fieldsV1)) ownedByOthers.add(p);

  const object = (
    current ? applyStrategicMergePatch(current, config) : structuredClone(config)
  ) as JsonObject;
  // Fields this manager applied before, no longer applies, and nobody else owns are removed.
  const dropped = [...previouslyMine]
    .filter((p) => !applied.has(p) && !ownedByOthers.has(p))
    .sort((a, b) => tokensOf(b).length - tokensOf(a).length);
  for (const p of dropped) removeAt(object, tokensOf(p));

  const updated = entries.filter((e) => !sameManager(e, me));
  updated.push({
    manager,
    operation: "Apply",
    apiVersion,
    time,
    fieldsType: "FieldsV1",
    fieldsV1: toFieldsV1(applied),
  });
  return { object, managedFields: pruneEmpty(updated), conflicts };
}

/**
 * Ownership after an ordinary write (create, update, patch) by `manager`: the fields it changed or
 * added become its own (operation Update) and leave every other manager; removed fields leave everyone.
 */
export function trackUpdate(
  before: JsonObject | undefined,
  after: JsonObject,
  manager: string,
  apiVersion: string,
  time: string,
): ManagedFieldsEntry[] {
  const entries: ManagedFieldsEntry[] = structuredClone(
    ((before?.metadata as JsonObject | undefined)?.managedFields as unknown as ManagedFieldsEntry[]) ?? [],
  );
  const oldSet = before ? fieldSetOf(before) : new Set<string>();
  const newSet = fieldSetOf(after);
  const changed = [...newSet].filter(
    (p) =>
      !oldSet.has(p) ||
      (isLeafPath(p) && !deepEqual(valueAt(before!, tokensOf(p)), valueAt(after, tokensOf(p)))),
  );
  const removed = [...oldSet].filter((p) => !newSet.has(p));
  if (changed.length === 0 && removed.length === 0) return entries;
  const me = { manager, operation: "Update" as const };
  for (const e of entries) {
    const owned = fromFieldsV1(e.fieldsV1);
    for (const p of removed) owned.delete(p);
    if (!sameManager(e, me)) for (const p of changed) owned.delete(p);
    e.fieldsV1 = toFieldsV1(owned);
  }
  let mine = entries.find((e) => sameManager(e, me));
  if (!mine) {
    mine = { manager, operation: "Update", apiVersion, time, fieldsType: "FieldsV1", fieldsV1: {} };
    entries.push(mine);
  }
  const owned = fromFieldsV1(mine.fieldsV1);
  for (const p of changed) owned.add(p);
  mine.fieldsV1 = toFieldsV1(owned);
  mine.time = time;
  mine.apiVersion = apiVersion;
  return pruneEmpty(entries);
}

const pruneEmpty = (entries: ManagedFieldsEntry[]) =>
  entries.filter((e) => Object.keys(e.fieldsV1).length > 0);
