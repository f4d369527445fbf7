/**
 * The cluster's object store: every object by resource, namespace and name, a cluster-wide
 * resourceVersion counter, a bounded change history for watches that resume from a resourceVersion,
 * and persistence as one lab state document.
 */
import { randomUUID } from "node:crypto";
import type { KubeChange, KubeObject } from "./api.js";
import type { ResourceDef } from "./resources.js";

export interface ClusterState {
  /** Last issued resourceVersion. */
  resourceVersion: number;
  objects: Record<string, KubeObject>;
  /** Opaque bearer token accepted for the operator identity (besides lab JWTs). */
  staticToken: string;
  /** The operator's long-lived JWT written into the kubeconfig. */
  operatorToken?: string;
}

export interface StoredChange extends KubeChange {
  resourceVersion: number;
}

/** How many changes a watch can resume over before it gets 410 Gone. */
const HISTORY = 2000;

export class ClusterStore {
  private readonly history: StoredChange[] = [];
  private readonly listeners = new Set<(change: StoredChange) => void>();
  /** Results of `scan` at one resourceVersion. */
  private readonly scans = { resourceVersion: -1, results: new Map<string, readonly KubeObject[]>() };

  constructor(
    readonly state: ClusterState,
    private readonly persist: (state: ClusterState) => void,
  ) {}

  static key(
    def: Pick<ResourceDef, "group" | "resource">,
    namespace: string | undefined,
    name: string,
  ): string {
    return `${def.group ? `${def.group}/` : ""}${def.resource}/${namespace ?? ""}/${name}`;
  }

  get resourceVersion(): string {
    return String(this.state.resourceVersion);
  }

  get(def: ResourceDef, namespace: string | undefined, name: string): KubeObject | undefined {
    const o = this.state.objects[ClusterStore.key(def, namespace, name)];
    return o ? structuredClone(o) : undefined;
  }

  /** The stored object itself (no copy), for in-process readers that only look at it. Never modify it. */
  peek(def: ResourceDef, namespace: string | undefined, name: string): Readonly<KubeObject> | undefined {
    return this.state.objects[ClusterStore.key(def, namespace, name)];
  }

  list(def: ResourceDef, namespace?: string): KubeObject[] {
    return this.scan(def, namespace).map((o) => structuredClone(o));
  }

  /**
   * The stored objects themselves, in `list` order, for in-process readers that only look at them
   * (no copies: an object of a large list is copied only by whoever keeps it). Never modify them.
   */
  scan(def: ResourceDef, namespace?: string): readonly Readonly<KubeObject>[] {
    const prefix = `${def.group ? `${def.group}/` : ""}${def.resource}/`;
    // Every write bumps the resourceVersion, so a scan stays valid until the next one.
    const key = `${prefix}\0${namespace ?? "\0"}`;
    if (this.scans.resourceVersion !== this.state.resourceVersion) {
      this.scans.resourceVersion = this.state.resourceVersion;
      this.scans.results.clear();
    }
    const cached = this.scans.results.get(key);
    if (cached) return cached;
    const found = Object.entries(this.state.objects)
      .filter(
        ([k, o]) => k.startsWith(prefix) && (namespace === undefined || o.metadata.namespace === namespace),
      )
      .map(([, o]) => o)
      .sort((a, b) =>
        `${a.metadata.namespace ?? ""}/${a.metadata.name}`.localeCompare(
          `${b.metadata.namespace ?? ""}/${b.metadata.name}`,
        ),
      );
    this.scans.results.set(key, found);
    return found;
  }

  /** Stores `obj` (created or replaced), assigning uid, creationTimestamp and a new resourceVersion. */
  put(def: ResourceDef, obj: KubeObject, now: Date): KubeObject {
    const key = ClusterStore.key(def, obj.metadata.namespace, obj.metadata.name);
    const existed = key in this.state.objects;
    this.state.resourceVersion++;
    obj.metadata.resourceVersion = String(this.state.resourceVersion);
    obj.metadata.uid ||= randomUUID();
    obj.metadata.creationTimestamp ||= now.toISOString().replace(/\.\d{3}Z$/, "Z");
    this.state.objects[key] = structuredClone(obj);
    this.record({ type: existed ? "MODIFIED" : "ADDED", resource: def.resource, object: obj });
    return structuredClone(obj);
  }

  remove(def: ResourceDef, namespace: string | undefined, name: string): KubeObject | undefined {
    const key = ClusterStore.key(def, namespace, name);
    const obj = this.state.objects[key];
    if (!obj) return undefined;
    delete this.state.objects[key];
    this.state.resourceVersion++;
    // A deleted object is delivered with the resourceVersion of its deletion, as etcd3 watch does.
    obj.metadata.resourceVersion = String(this.state.resourceVersion);
    this.record({ type: "DELETED", resource: def.resource, object: obj });
    return structuredClone(obj);
  }

  /** Changes after `resourceVersion`, or undefined when the history no longer reaches back that far. */
  changesSince(resourceVersion: number): StoredChange[] | undefined {
    const oldest = this.history[0];
    if (resourceVersion >= this.state.resourceVersion) return [];
    if (!oldest || oldest.resourceVersion > resourceVersion + 1) {
      // Nothing recorded since the lab started (restart): only a resume from the current version works.
      return undefined;
    }
    return this.history.filter((c) => c.resourceVersion > resourceVersion);
  }

  subscribe(listener: (change: StoredChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private record(change: KubeChange): void {
    const stored: StoredChange = {
      ...change,
      object: structuredClone(change.object),
      resourceVersion: this.state.resourceVersion,
    };
    this.history.push(stored);
    if (this.history.length > HISTORY) this.history.shift();
    this.persist(this.state);
    for (const l of this.listeners) l(stored);
  }
}
