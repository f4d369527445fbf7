/**
 * The resource types the lab API server knows: their group/version/kind, scope, verbs, the Azure RBAC
 * data action prefix AKS checks, defaulting and validation (the parts of the real validators the
 * product and kubectl meet), and the list keys strategic merge and server-side apply use.
 */
import type { KubeObject } from "./api.js";
import type { FieldError } from "./errors.js";

export interface ResourceDef {
  group: string;
  version: string;
  /** Plural, lower case: `secrets`. */
  resource: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  verbs: string[];
  /** Spec changes bump metadata.generation (Deployments, Ingresses). */
  hasGeneration: boolean;
  /** Called on create and update (old is the stored object on update); mutates `obj` into its stored form. */
  normalize(obj: KubeObject, old: KubeObject | undefined): void;
  validate(obj: KubeObject, old: KubeObject | undefined): FieldError[];
  /** Extra field selectors beyond metadata.name / metadata.namespace. */
  fieldSelectors?: Record<string, (obj: KubeObject) => string | undefined>;
}

export const apiVersionOf = (def: { group: string; version: string }) =>
  def.group ? `${def.group}/${def.version}` : def.version;

const ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

const DATA_KEY = /^[-._a-zA-Z0-9]+$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function validateName(obj: KubeObject, pattern: RegExp, max: number): FieldError[] {
  const name = obj.metadata.name;
  if (name.length > max || !pattern.test(name)) {
    const kind =
      pattern === DNS1123_LABEL
        ? `a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character`
        : `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`;
    return [{ field: "metadata.name", type: "FieldValueInvalid", value: name, detail: kind }];
  }
  return [];
}

function validateStringMap(value: unknown, field: string): FieldError[] {
  if (value === undefined || value === null) return [];
  if (!isRecord(value)) return [{ field, type: "FieldValueInvalid", value, detail: "must be an object" }];
  return Object.entries(value)
    .filter(([, v]) => typeof v !== "string")
    .map(([k, v]) => ({
      field: `${field}[${k}]`,
      type: "FieldValueInvalid" as const,
      value: v,
      detail: "must be a string",
    }));
}

function validateMeta(obj: KubeObject): FieldError[] {
  return [
    ...validateStringMap(obj.metadata.labels, "metadata.labels"),
    ...validateStringMap(obj.metadata.annotations, "metadata.annotations"),
  ];
}

const secrets: ResourceDef = {
  group: "",
  version: "v1",
  resource: "secrets",
  singular: "secret",
  kind: "Secret",
  namespaced: true,
  shortNames: [],
  verbs: ALL_VERBS,
  hasGeneration: false,
  normalize(obj) {
    // stringData is write-only: merged into data, never stored (core/v1 conversion does the same).
    if (isRecord(obj.stringData)) {
      const data = isRecord(obj.data) ? { ...obj.data } : {};
      for (const [k, v] of Object.entries(obj.stringData)) {
        if (typeof v === "string") data[k] = Buffer.from(v, "utf8").toString("base64");
      }
      obj.data = data;
    }
    delete obj.stringData;
    obj.type = typeof obj.type === "string" && obj.type !== "" ? obj.type : "Opaque";
    if (obj.data === null) delete obj.data;
  },
  validate(obj, old) {
    const errors: FieldError[] = [...validateName(obj, DNS1123_SUBDOMAIN, 253), ...validateMeta(obj)];
    const data = obj.data;
    if (data !== undefined && !isRecord(data)) {
      errors.push({ field: "data", type: "FieldValueInvalid", value: data, detail: "must be a map" });
      return errors;
    }
    for (const [k, v] of Object.entries(data ?? {})) {
      if (!DATA_KEY.test(k))
        errors.push({
          field: `data[${k}]`,
          type: "FieldValueInvalid",
          value: k,
          detail: "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
        });
      if (typeof v !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(v))
        errors.push({
          field: `data[${k}]`,
          type: "FieldValueInvalid",
          value: "<secret contents redacted>",
          detail: "must be base64",
        });
    }
    if (obj.type === "kubernetes.io/tls") {
      // ValidateSecret: both keys must be present; their values are not checked.
      for (const key of ["tls.crt", "tls.key"]) {
        if (!(isRecord(data) && key in data))
          errors.push({ field: `data[${key}]`, type: "FieldValueRequired" });
      }
    }
    if (old) {
      if (old.type !== obj.type)
        errors.push({
          field: "type",
          type: "FieldValueInvalid",
          value: obj.type,
          detail: "field is immutable",
        });
      if (old.immutable === true) {
        if (JSON.stringify(old.data ?? {}) !== JSON.stringify(obj.data ?? {}))
          errors.push({
            field: "data",
            type: "FieldValueForbidden",
            detail: "field is immutable when `immutable` is set",
          });
        if (obj.immutable !== true)
          errors.push({
            field: "immutable",
            type: "FieldValueForbidden",
            detail: "field is immutable when `immutable` is set",
          });
      }
    }
    return errors;
  },
  fieldSelectors: { type: (o) => (typeof o.type === "string" ? o.type : undefined) },
};

const namespaces: ResourceDef = {
  group: "",
  version: "v1",
  resource: "namespaces",
  singular: "namespace",
  kind: "Namespace",
  namespaced: false,
  shortNames: ["ns"],
  verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
  hasGeneration: false,
  normalize(obj) {
    obj.metadata.labels = {
      ...(obj.metadata.labels ?? {}),
      "kubernetes.io/metadata.name": obj.metadata.name,
    };
    obj.spec = { finalizers: ["kubernetes"] };
    obj.status = { phase: "Active" };
  },
  validate: (obj) => [...validateName(obj, DNS1123_LABEL, 63), ...validateMeta(obj)],
  fieldSelectors: { "status.phase": () => "Active" },
};

const ingresses: ResourceDef = {
  group: "networking.k8s.io",
  version: "v1",
  resource: "ingresses",
  singular: "ingress",
  kind: "Ingress",
  namespaced: true,
  shortNames: ["ing"],
  verbs: ALL_VERBS,
  hasGeneration: true,
  normalize(obj, old) {
    if (!isRecord(obj.spec)) obj.spec = {};
    obj.status = old?.status ?? { loadBalancer: { ingress: [{ ip: "127.0.0.1" }] } };
  },
  validate(obj) {
    const errors = [...validateName(obj, DNS1123_SUBDOMAIN, 253), ...validateMeta(obj)];
    const spec = obj.spec as Record<string, unknown>;
    const tls = spec.tls;
    if (tls !== undefined && !Array.isArray(tls))
      errors.push({ field: "spec.tls", type: "FieldValueInvalid", value: tls, detail: "must be a list" });
    if (Array.isArray(tls))
      tls.forEach((t: unknown, i) => {
        if (!isRecord(t)) return;
        if (
          t.secretName !== undefined &&
          (typeof t.secretName !== "string" || !DNS1123_SUBDOMAIN.test(t.secretName))
        )
          errors.push({ field: `spec.tls[${i}].secretName`, type: "FieldValueInvalid", value: t.secretName });
      });
    if (!spec.defaultBackend && !(Array.isArray(spec.rules) && spec.rules.length > 0))
      errors.push({
        field: "spec.rules",
        type: "FieldValueRequired",
        detail: "either `defaultBackend` or `rules` must be specified",
      });
    return errors;
  },
};

const deployments: ResourceDef = {
  group: "apps",
  version: "v1",
  resource: "deployments",
  singular: "deployment",
  kind: "Deployment",
  namespaced: true,
  shortNames: ["deploy"],
  verbs: ALL_VERBS,
  hasGeneration: true,
  normalize(obj, old) {
    const spec = isRecord(obj.spec) ? obj.spec : (obj.spec = {});
    if (typeof spec.replicas !== "number") spec.replicas = 1;
    spec.revisionHistoryLimit ??= 10;
    spec.progressDeadlineSeconds ??= 600;
    spec.strategy ??= { type: "RollingUpdate", rollingUpdate: { maxSurge: "25%", maxUnavailable: "25%" } };
    // Status belongs to the controller; clients cannot write it through the main resource.
    obj.status = old?.status ?? {};
  },
  validate(obj) {
    const errors = [...validateName(obj, DNS1123_SUBDOMAIN, 253), ...validateMeta(obj)];
    const spec = obj.spec as Record<string, unknown>;
    const template = spec.template;
    if (!isRecord(template)) {
      errors.push({ field: "spec.template", type: "FieldValueRequired" });
      return errors;
    }
    const selector = spec.selector;
    if (!isRecord(selector)) errors.push({ field: "spec.selector", type: "FieldValueRequired" });
    const podSpec = template.spec;
    const containers = isRecord(podSpec) ? podSpec.containers : undefined;
    if (!Array.isArray(containers) || containers.length === 0)
      errors.push({ field: "spec.template.spec.containers", type: "FieldValueRequired" });
    else
      containers.forEach((c: unknown, i) => {
        if (!isRecord(c) || typeof c.name !== "string" || c.name === "")
          errors.push({ field: `spec.template.spec.containers[${i}].name`, type: "FieldValueRequired" });
        if (!isRecord(c) || typeof c.image !== "string" || c.image === "")
          errors.push({ field: `spec.template.spec.containers[${i}].image`, type: "FieldValueRequired" });
      });
    if (typeof spec.replicas === "number" && spec.replicas < 0)
      errors.push({
        field: "spec.replicas",
        type: "FieldValueInvalid",
        value: spec.replicas,
        detail: "must be greater than or equal to 0",
      });
    return errors;
  },
};

export const RESOURCES: ResourceDef[] = [namespaces, secrets, ingresses, deployments];

/** Finds a resource by group, version and plural name. */
export function findResource(group: string, version: string, resource: string): ResourceDef | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.resource === resource);
}

export const RESOURCE = { namespaces, secrets, ingresses, deployments };

/** Azure RBAC data action AKS checks, e.g. `Microsoft.ContainerService/managedClusters/secrets/write`. */
export function dataAction(def: ResourceDef, verb: string): string {
  const op = ["get", "list", "watch"].includes(verb)
    ? "read"
    : verb === "delete" || verb === "deletecollection"
      ? "delete"
      : "write";
  return `Microsoft.ContainerService/managedClusters/${def.group ? `${def.group}/` : ""}${def.resource}/${op}`;
}

/**
 * Merge keys of associative lists, by path of field names (list items skipped), for strategic merge
 * patch and server-side apply. Lists not named here are atomic (replaced as a whole).
 */
const LIST_KEYS: Record<string, string> = {
  "spec.template.spec.containers": "name",
  "spec.template.spec.initContainers": "name",
  "spec.template.spec.containers.env": "name",
  "spec.template.spec.initContainers.env": "name",
  "spec.template.spec.containers.ports": "containerPort",
  "spec.template.spec.containers.volumeMounts": "mountPath",
  "spec.template.spec.volumes": "name",
  "spec.template.spec.imagePullSecrets": "name",
  "metadata.ownerReferences": "uid",
};

/** The merge key of the list at `path` (field names only), or undefined when the list is atomic. */
export function listKey(path: string[]): string | undefined {
  return LIST_KEYS[path.join(".")];
}
