/**
 * The REST handlers of the lab API server: one method per verb (get, list, watch, create, update,
 * patch, delete) over the resource types of resources.ts, with Azure RBAC authorization, dry runs,
 * optimistic concurrency, field management and the injected `conflict` fault.
 */
import { parse as parseYaml } from "yaml";
import type { LabContext } from "../core/lab.js";
import { STREAMED, type LabRequest, type LabResponse } from "../core/http.js";
import { textOf } from "../core/text.js";
import type { KubeObject } from "./api.js";
import {
  KubeStatusError,
  alreadyExists,
  badRequest,
  conflict,
  forbidden,
  invalid,
  methodNotAllowed,
  notFound,
  pathNotFound,
  statusError,
  unsupportedMediaType,
  applyConflict,
} from "./errors.js";
import { serverSideApply, trackUpdate } from "./fields.js";
import {
  PatchError,
  applyJsonPatch,
  applyMergePatch,
  applyStrategicMergePatch,
  deepEqual,
  type Json,
} from "./patch.js";
import { RESOURCE, apiVersionOf, dataAction, findResource, type ResourceDef } from "./resources.js";
import { parseFieldSelector, parseLabelSelector } from "./selectors.js";
import { ClusterStore, type StoredChange } from "./store.js";
import { toTable, wantsTable } from "./table.js";

type JsonObject = { [key: string]: Json };
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Options of the API server; defaults in brackets. */
export interface KubeServerOptions {
  /** How long a Deployment rollout takes before its status reports every replica updated [300 ms]. */
  rolloutDelayMs: number;
}

interface Target {
  def: ResourceDef;
  namespace?: string;
  name?: string;
  subresource?: string;
}

const PATCH_TYPES = [
  "application/json-patch+json",
  "application/merge-patch+json",
  "application/strategic-merge-patch+json",
  "application/apply-patch+yaml",
];

export class KubeApiServer {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly watches = new Set<() => void>();

  constructor(
    private readonly ctx: LabContext,
    readonly store: ClusterStore,
    readonly clusterId: string,
    readonly options: KubeServerOptions,
  ) {}

  /** Ends watches and pending rollouts (lab stop). */
  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const end of [...this.watches]) end();
  }

  /** Resolves `/api/v1/...` or `/apis/<g>/<v>/...` to a resource target; undefined for unknown paths. */
  resolve(path: string): Target | undefined {
    const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    let group = "";
    let version: string;
    let rest: string[];
    if (parts[0] === "api" && parts.length >= 3) {
      version = parts[1]!;
      rest = parts.slice(2);
    } else if (parts[0] === "apis" && parts.length >= 4) {
      group = parts[1]!;
      version = parts[2]!;
      rest = parts.slice(3);
    } else return undefined;
    const find = (r: string | undefined) => (r ? findResource(group, version, r) : undefined);
    if (rest[0] === "namespaces" && rest.length >= 3) {
      const def = find(rest[2]);
      if (!def?.namespaced || rest.length > 5) return undefined;
      return { def, namespace: rest[1], name: rest[3], subresource: rest[4] };
    }
    const def = find(rest[0]);
    if (!def || rest.length > 3) return undefined;
    if (def.namespaced && rest.length > 1) return undefined;
    return { def, name: rest[1], subresource: rest[2] };
  }

  handle(req: LabRequest): LabResponse | typeof STREAMED {
    const target = this.resolve(req.path);
    if (!target) throw pathNotFound();
    if (target.subresource && !(target.def === RESOURCE.deployments && target.subresource === "status"))
      throw pathNotFound();
    const watch = ["true", "1"].includes(req.query.get("watch") ?? "");
    const m = req.method;
    let verb: string;
    if (target.name === undefined) {
      verb =
        m === "GET"
          ? watch
            ? "watch"
            : "list"
          : m === "POST"
            ? "create"
            : m === "DELETE"
              ? "deletecollection"
              : "";
    } else {
      verb =
        m === "GET"
          ? watch
            ? "watch"
            : "get"
          : m === "PUT"
            ? "update"
            : m === "PATCH"
              ? "patch"
              : m === "DELETE"
                ? "delete"
                : "";
    }
    if (!verb || verb === "deletecollection" || (target.subresource && verb !== "get"))
      throw methodNotAllowed();
    this.authorize(req, target, verb);
    const dryRun = this.dryRun(req);
    switch (verb) {
      case "get":
        return this.get(req, target);
      case "list":
        return this.list(req, target);
      case "watch":
        return this.watch(req, target);
      case "create":
        return this.create(req, target, dryRun);
      case "update":
        return this.update(req, target, dryRun);
      case "patch":
        return this.patch(req, target, dryRun);
      default:
        return this.remove(req, target, dryRun);
    }
  }

  // ------------------------------------------------------------------ authorization

  private authorize(req: LabRequest, t: Target, verb: string): void {
    const principal = req.principal!;
    const ns = t.def.namespaced ? t.namespace : t.def === RESOURCE.namespaces ? t.name : undefined;
    const scope = ns ? `${this.clusterId}/namespaces/${ns}` : this.clusterId;
    if (this.ctx.auth.isAllowed(principal.objectId, scope, { dataAction: dataAction(t.def, verb) })) return;
    throw forbidden(
      { group: t.def.group, resource: t.def.resource },
      t.name,
      principal.objectId,
      verb,
      t.def.namespaced ? t.namespace : undefined,
    );
  }

  private dryRun(req: LabRequest): boolean {
    const values = req.query.getAll("dryRun");
    if (values.length === 0) return false;
    for (const v of values)
      if (v !== "All")
        throw badRequest(`Invalid dryRun value: ${JSON.stringify(v)}; the only supported value is "All"`);
    return true;
  }

  // ------------------------------------------------------------------ reads

  private gr = (def: ResourceDef) => ({ group: def.group, resource: def.resource });

  private mustGet(t: Target): KubeObject {
    const obj = this.store.get(t.def, t.namespace, t.name!);
    if (!obj) throw notFound(this.gr(t.def), t.name!);
    return obj;
  }

  private render(req: LabRequest, def: ResourceDef, objects: KubeObject[], single: boolean): LabResponse {
    if (wantsTable(req.headers.accept))
      return {
        status: 200,
        body: toTable(def.resource, objects, this.store.resourceVersion, this.ctx.clock.now()),
      };
    if (single) return { status: 200, body: objects[0] };
    return {
      status: 200,
      body: {
        kind: `${def.kind}List`,
        apiVersion: apiVersionOf(def),
        metadata: { resourceVersion: this.store.resourceVersion },
        items: objects.map(({ apiVersion: _a, kind: _k, ...rest }) => rest),
      },
    };
  }

  private get(req: LabRequest, t: Target): LabResponse {
    return this.render(req, t.def, [this.mustGet(t)], true);
  }

  private matcher(req: LabRequest, def: ResourceDef) {
    const labels = parseLabelSelector(req.query.get("labelSelector"));
    const fields = parseFieldSelector(req.query.get("fieldSelector"), def);
    return (o: KubeObject) => labels(o) && fields(o);
  }

  private list(req: LabRequest, t: Target): LabResponse {
    const match = this.matcher(req, t.def);
    return this.render(req, t.def, this.store.list(t.def, t.namespace).filter(match), false);
  }

  private watch(req: LabRequest, t: Target): typeof STREAMED {
    const match = this.matcher(req, t.def);
    const res = req.res;
    const rvParam = req.query.get("resourceVersion");
    const timeoutSeconds = Number(req.query.get("timeoutSeconds") ?? 1800);
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-cache, private" });
    res.flushHeaders(); // clients wait for the headers before they read events
    // kubectl get -w asks for Tables: each event then carries a one-row Table, as the real server sends.
    const table = wantsTable(req.headers.accept);
    const send = (type: string, object: unknown) => {
      const payload =
        table && type !== "ERROR" && type !== "BOOKMARK"
          ? toTable(t.def.resource, [object as KubeObject], this.store.resourceVersion, this.ctx.clock.now())
          : object;
      res.write(`${JSON.stringify({ type, object: payload })}\n`);
    };
    const relevant = (c: StoredChange) =>
      c.resource === t.def.resource &&
      (t.namespace === undefined || c.object.metadata.namespace === t.namespace) &&
      match(c.object);
    let queue: StoredChange[] | undefined;
    if (!rvParam || rvParam === "0") {
      for (const o of this.store.list(t.def, t.namespace).filter(match)) send("ADDED", o);
      queue = [];
    } else {
      queue = this.store.changesSince(Number(rvParam));
      if (!queue || !/^\d+$/.test(rvParam)) {
        send(
          "ERROR",
          statusError(410, "Expired", `too old resource version: ${rvParam} (${this.store.resourceVersion})`)
            .status,
        );
        res.end();
        return STREAMED;
      }
    }
    for (const c of queue) if (relevant(c)) send(c.type, c.object);
    const unsubscribe = this.store.subscribe((c) => {
      if (relevant(c)) send(c.type, c.object);
    });
    const bookmarks = req.query.get("allowWatchBookmarks") === "true";
    const bookmarkTimer = bookmarks
      ? setInterval(
          () =>
            send("BOOKMARK", {
              kind: t.def.kind,
              apiVersion: apiVersionOf(t.def),
              metadata: { resourceVersion: this.store.resourceVersion },
            }),
          5000,
        )
      : undefined;
    const end = () => {
      unsubscribe();
      clearTimeout(timer);
      if (bookmarkTimer) clearInterval(bookmarkTimer);
      this.watches.delete(end);
      if (!res.writableEnded) res.end();
    };
    const timer = setTimeout(end, Math.max(1, timeoutSeconds) * 1000);
    this.watches.add(end);
    // The response closes when the client goes away (the request's own "close" fires once its body is read).
    res.on("close", end);
    return STREAMED;
  }

  // ------------------------------------------------------------------ writes

  private body(req: LabRequest): JsonObject {
    if (!isObject(req.body)) {
      if (req.rawBody.length === 0) throw badRequest("the body of the request is empty");
      throw badRequest(
        `the object provided is unrecognized (must be of type ${"JSON"}): couldn't get version/kind; json parse error`,
      );
    }
    return structuredClone(req.body) as JsonObject;
  }

  private checkKind(def: ResourceDef, obj: JsonObject): void {
    const apiVersion = obj.apiVersion;
    const kind = obj.kind;
    if (kind !== undefined && kind !== def.kind)
      throw badRequest(
        `the API version in the data (${textOf(apiVersion)}) does not match the expected API version (${apiVersionOf(def)})`,
      );
    if (apiVersion !== undefined && apiVersion !== apiVersionOf(def))
      throw badRequest(
        `the API version in the data (${textOf(apiVersion)}) does not match the expected API version (${apiVersionOf(def)})`,
      );
  }

  private fieldManager(req: LabRequest): string {
    const fm = req.query.get("fieldManager");
    if (fm) {
      if (fm.length > 128) throw badRequest("fieldManager: Too long: may not be longer than 128");
      return fm;
    }
    const ua = req.headers["user-agent"] ?? "unknown";
    return ua.split("/")[0]!.slice(0, 128) || "unknown";
  }

  private now(): string {
    return this.ctx.clock
      .now()
      .toISOString()
      .replace(/\.\d{3}Z$/, "Z");
  }

  private namespaceMustExist(t: Target): void {
    if (t.def.namespaced && !this.store.get(RESOURCE.namespaces, undefined, t.namespace!))
      throw notFound({ group: "", resource: "namespaces" }, t.namespace!);
  }

  /**
   * Normalises, validates and stores `obj` (the object after the write) over `old`; on dry run, returns
   * what would be stored.
   */
  private commit(
    t: Target,
    obj: KubeObject,
    old: KubeObject | undefined,
    dryRun: boolean,
    managedFields: KubeObject["metadata"]["managedFields"] | "track",
    manager: string,
  ): KubeObject {
    const def = t.def;
    obj.apiVersion = apiVersionOf(def);
    obj.kind = def.kind;
    obj.metadata = { ...(obj.metadata ?? {}) };
    if (def.namespaced) obj.metadata.namespace = t.namespace;
    else delete obj.metadata.namespace;
    if (old) {
      obj.metadata.uid = old.metadata.uid;
      obj.metadata.creationTimestamp = old.metadata.creationTimestamp;
    } else {
      obj.metadata.uid = "";
      obj.metadata.creationTimestamp = "";
    }
    def.normalize(obj, old);
    const errors = def.validate(obj, old);
    if (errors.length) throw invalid(def.group, def.kind, obj.metadata.name, errors);
    if (def.hasGeneration) {
      const oldGen = Number(old?.metadata.generation ?? 0);
      obj.metadata.generation = !old ? 1 : deepEqual(old.spec, obj.spec) ? oldGen : oldGen + 1;
    } else delete obj.metadata.generation;
    obj.metadata.managedFields =
      managedFields === "track"
        ? trackUpdate(
            old as JsonObject | undefined,
            obj as unknown as JsonObject,
            manager,
            apiVersionOf(def),
            this.now(),
          )
        : managedFields;
    if (obj.metadata.managedFields?.length === 0) delete obj.metadata.managedFields;
    if (old && deepEqual(stripVolatile(old), stripVolatile(obj))) return old; // no-op write keeps the resourceVersion
    if (dryRun) {
      obj.metadata.resourceVersion = old?.metadata.resourceVersion ?? "";
      if (!old) delete (obj.metadata as Partial<KubeObject["metadata"]>).creationTimestamp;
      return obj;
    }
    const stored = this.store.put(def, obj, this.ctx.clock.now());
    this.changed(def, stored);
    if (def === RESOURCE.deployments && stored.metadata.generation !== old?.metadata.generation)
      this.rollout(stored);
    return stored;
  }

  private changed(def: ResourceDef, obj: KubeObject): void {
    const id = ClusterStore.key(def, obj.metadata.namespace, obj.metadata.name);
    this.ctx.bus.emit("resource.changed", { service: "kubernetes", id });
  }

  private takeConflictFault(verb: string, t: Target): void {
    const op = `${verb} ${t.def.resource} ${t.namespace ? `${t.namespace}/` : ""}${t.name}`;
    if (this.ctx.faults.take("kubernetes", op, "conflict")) throw conflict(this.gr(t.def), t.name!);
  }

  private create(req: LabRequest, t: Target, dryRun: boolean): LabResponse {
    const obj = this.body(req);
    this.checkKind(t.def, obj);
    const meta = isObject(obj.metadata) ? obj.metadata : (obj.metadata = {});
    if (!meta.name && typeof meta.generateName === "string")
      meta.name = `${meta.generateName}${Math.random().toString(36).slice(2, 7)}`;
    if (typeof meta.name !== "string" || meta.name === "")
      throw invalid(t.def.group, t.def.kind, "", [
        { field: "metadata.name", type: "FieldValueRequired", detail: "name or generateName is required" },
      ]);
    if (t.def.namespaced && meta.namespace !== undefined && meta.namespace !== t.namespace)
      throw badRequest(
        "the namespace of the provided object does not match the namespace sent on the request",
      );
    if (meta.resourceVersion) throw badRequest("resourceVersion should not be set on objects to be created");
    this.namespaceMustExist(t);
    const target = { ...t, name: meta.name };
    if (this.store.get(t.def, t.namespace, meta.name)) throw alreadyExists(this.gr(t.def), meta.name);
    delete meta.managedFields;
    const stored = this.commit(
      target,
      obj as unknown as KubeObject,
      undefined,
      dryRun,
      "track",
      this.fieldManager(req),
    );
    return { status: 201, body: stored };
  }

  private update(req: LabRequest, t: Target, dryRun: boolean): LabResponse {
    const obj = this.body(req);
    this.checkKind(t.def, obj);
    const meta = isObject(obj.metadata) ? obj.metadata : (obj.metadata = {});
    if (meta.name !== t.name)
      throw badRequest(
        `the name of the object (${textOf(meta.name ?? "")}) does not match the name on the URL (${t.name})`,
      );
    if (t.def.namespaced && meta.namespace !== undefined && meta.namespace !== t.namespace)
      throw badRequest(
        "the namespace of the provided object does not match the namespace sent on the request",
      );
    const old = this.mustGet(t);
    this.takeConflictFault("update", t);
    if (
      meta.resourceVersion !== undefined &&
      meta.resourceVersion !== "" &&
      meta.resourceVersion !== old.metadata.resourceVersion
    )
      throw conflict(this.gr(t.def), t.name!);
    const explicitFields = Array.isArray(meta.managedFields)
      ? (meta.managedFields as unknown as KubeObject["metadata"]["managedFields"])
      : undefined;
    if (!explicitFields) meta.managedFields = (old.metadata.managedFields ?? []) as unknown as Json;
    const stored = this.commit(
      t,
      obj as unknown as KubeObject,
      old,
      dryRun,
      explicitFields ?? "track",
      this.fieldManager(req),
    );
    return { status: 200, body: stored };
  }

  private patch(req: LabRequest, t: Target, dryRun: boolean): LabResponse {
    const contentType = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    if (!PATCH_TYPES.includes(contentType)) throw unsupportedMediaType(contentType, PATCH_TYPES);
    const text = req.rawBody.toString("utf8");
    const force = req.query.get("force");
    if (contentType === "application/apply-patch+yaml")
      return this.apply(req, t, dryRun, text, force === "true");
    if (force !== null)
      throw badRequest("force: Invalid value: true: may not be specified for non-apply patch");
    let patch: Json;
    try {
      patch = JSON.parse(text) as Json;
    } catch (e) {
      throw badRequest(`error decoding patch: ${(e as Error).message}`);
    }
    const old = this.mustGet(t);
    this.takeConflictFault("patch", t);
    let patched: Json;
    try {
      if (contentType === "application/json-patch+json")
        patched = applyJsonPatch(old as unknown as Json, patch);
      else if (contentType === "application/merge-patch+json") {
        if (!isObject(patch)) throw badRequest("error decoding patch: merge patch must be a JSON object");
        patched = applyMergePatch(old as unknown as Json, patch);
      } else {
        if (!isObject(patch))
          throw badRequest("error decoding patch: strategic merge patch must be a JSON object");
        patched = applyStrategicMergePatch(old as unknown as Json, patch);
      }
    } catch (e) {
      if (e instanceof PatchError)
        throw statusError(
          422,
          "Invalid",
          `the server rejected our request due to an error in our request: ${e.message}`,
        );
      throw e;
    }
    if (!isObject(patched)) throw badRequest("the patched object is not a JSON object");
    const obj = patched as unknown as KubeObject;
    this.checkKind(t.def, patched);
    if (!isObject(obj.metadata) || obj.metadata.name !== t.name)
      throw badRequest(
        `the name of the object (${String(isObject(obj.metadata) ? obj.metadata.name : "")}) does not match the name on the URL (${t.name})`,
      );
    // A resourceVersion in the patch is a precondition (optimistic locking through PATCH).
    if (obj.metadata.resourceVersion !== old.metadata.resourceVersion) throw conflict(this.gr(t.def), t.name);
    if (obj.metadata.uid !== old.metadata.uid)
      throw statusError(
        409,
        "Conflict",
        `Precondition failed: UID in precondition: ${String(obj.metadata.uid)}, UID in object meta: ${old.metadata.uid}`,
      );
    const stored = this.commit(t, obj, old, dryRun, "track", this.fieldManager(req));
    return { status: 200, body: stored };
  }

  private apply(req: LabRequest, t: Target, dryRun: boolean, text: string, force: boolean): LabResponse {
    const manager = req.query.get("fieldManager");
    if (!manager) throw badRequest("PATCH with apply requires a fieldManager");
    let config: unknown;
    try {
      config = parseYaml(text);
    } catch (e) {
      throw badRequest(`error decoding YAML: ${(e as Error).message}`);
    }
    if (!isObject(config)) throw badRequest("error decoding YAML: the apply configuration must be an object");
    const cfg = structuredClone(config) as JsonObject;
    if (cfg.apiVersion !== apiVersionOf(t.def) || cfg.kind !== t.def.kind)
      throw badRequest(
        `the API version in the data (${textOf(cfg.apiVersion)}) does not match the expected API version (${apiVersionOf(t.def)})`,
      );
    const meta = isObject(cfg.metadata) ? cfg.metadata : (cfg.metadata = {});
    if (meta.name !== undefined && meta.name !== t.name)
      throw badRequest(
        `the name of the object (${textOf(meta.name)}) does not match the name on the URL (${t.name})`,
      );
    if (meta.managedFields !== undefined) throw badRequest("metadata.managedFields must be nil");
    meta.name = t.name!;
    const old = this.store.get(t.def, t.namespace, t.name!);
    if (!old) this.namespaceMustExist(t);
    if (old) this.takeConflictFault("patch", t);
    if (old && meta.resourceVersion !== undefined && meta.resourceVersion !== old.metadata.resourceVersion)
      throw conflict(this.gr(t.def), t.name!);
    if (t.def === RESOURCE.secrets && isObject(cfg.stringData)) {
      // stringData is write-only: applied as the data keys it sets.
      const data = isObject(cfg.data) ? { ...cfg.data } : {};
      for (const [k, v] of Object.entries(cfg.stringData))
        if (typeof v === "string") data[k] = Buffer.from(v).toString("base64");
      cfg.data = data;
      delete cfg.stringData;
    }
    const result = serverSideApply(
      old as JsonObject | undefined,
      cfg,
      manager,
      apiVersionOf(t.def),
      force,
      this.now(),
    );
    if (result.conflicts.length > 0 && !force) throw applyConflict(result.conflicts);
    const obj = result.object as unknown as KubeObject;
    const stored = this.commit(t, obj, old, dryRun, result.managedFields, manager);
    return { status: old ? 200 : 201, body: stored };
  }

  private remove(req: LabRequest, t: Target, dryRun: boolean): LabResponse {
    const old = this.mustGet(t);
    const options = isObject(req.body) ? req.body : {};
    const pre = isObject(options.preconditions) ? options.preconditions : {};
    if (typeof pre.resourceVersion === "string" && pre.resourceVersion !== old.metadata.resourceVersion)
      throw statusError(
        409,
        "Conflict",
        `Operation cannot be fulfilled on ${t.def.group ? `${t.def.resource}.${t.def.group}` : t.def.resource} "${t.name}": Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`,
        { name: t.name, ...(t.def.group ? { group: t.def.group } : {}), kind: t.def.resource },
      );
    if (!dryRun) {
      if (t.def === RESOURCE.namespaces) {
        for (const def of [RESOURCE.secrets, RESOURCE.ingresses, RESOURCE.deployments])
          for (const o of this.store.list(def, t.name)) {
            const gone = this.store.remove(def, t.name, o.metadata.name);
            if (gone) this.changed(def, gone);
          }
      }
      const gone = this.store.remove(t.def, t.namespace, t.name!);
      if (gone) this.changed(t.def, gone);
    }
    if (t.def === RESOURCE.namespaces)
      return { status: 200, body: { ...old, status: { phase: "Terminating" } } };
    return {
      status: 200,
      body: {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Success",
        details: {
          name: t.name,
          ...(t.def.group ? { group: t.def.group } : {}),
          kind: t.def.resource,
          uid: old.metadata.uid,
        },
      },
    };
  }

  // ------------------------------------------------------------------ Deployment controller

  /** Completes a rollout after `rolloutDelayMs`: status reports the new generation fully rolled out. */
  rollout(deployment: KubeObject): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.completeRollout(deployment.metadata.namespace!, deployment.metadata.name);
    }, this.options.rolloutDelayMs);
    timer.unref();
    this.timers.add(timer);
  }

  completeRollout(namespace: string, name: string): void {
    const def = RESOURCE.deployments;
    const current = this.store.get(def, namespace, name);
    if (!current) return;
    const spec = isObject(current.spec) ? current.spec : {};
    const replicas = Number(spec.replicas ?? 1);
    const now = this.now();
    const generation = Number(current.metadata.generation ?? 1);
    const status = isObject(current.status) ? current.status : {};
    if (Number(status.observedGeneration ?? 0) >= generation) return;
    current.status = {
      observedGeneration: generation,
      replicas,
      updatedReplicas: replicas,
      readyReplicas: replicas,
      availableReplicas: replicas,
      conditions: [
        {
          type: "Available",
          status: "True",
          lastUpdateTime: now,
          lastTransitionTime: now,
          reason: "MinimumReplicasAvailable",
          message: "Deployment has minimum availability.",
        },
        {
          type: "Progressing",
          status: "True",
          lastUpdateTime: now,
          lastTransitionTime: now,
          reason: "NewReplicaSetAvailable",
          message: `ReplicaSet "${name}-${generation.toString(16).padStart(10, "0").slice(-10)}" has successfully progressed.`,
        },
      ],
    };
    const stored = this.store.put(def, current, this.ctx.clock.now());
    this.changed(def, stored);
  }

  /** Restarts rollouts that a lab stop interrupted. */
  resumeRollouts(): void {
    for (const d of this.store.list(RESOURCE.deployments)) {
      const status = isObject(d.status) ? d.status : {};
      if (Number(status.observedGeneration ?? 0) < Number(d.metadata.generation ?? 1)) this.rollout(d);
    }
  }
}

/** Fields a write never changes by itself; a write equal apart from these is a no-op. */
function stripVolatile(o: KubeObject): unknown {
  const { resourceVersion: _rv, managedFields, ...meta } = o.metadata;
  const fields = (managedFields ?? []).map(({ time: _t, ...rest }) => rest);
  return { ...o, metadata: { ...meta, managedFields: fields } };
}

export { KubeStatusError };
