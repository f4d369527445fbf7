/**
 * Discovery documents: `/version`, `/api`, `/apis`, the per group-version resource lists (plain
 * form; clients asking for aggregated discovery fall back to it because the response's Content-Type is
 * plain `application/json`), and OpenAPI v3 (`/openapi/v3` and one document per group-version) with
 * just enough for kubectl's field-validation check: every PATCH operation names its
 * group-version-kind and the `fieldValidation` query parameter, so kubectl leaves validation to the
 * server. OpenAPI v2 is served as JSON for clients that ask for JSON, 406 for protobuf.
 */
import { createHash } from "node:crypto";
import { RESOURCES, apiVersionOf, type ResourceDef } from "./resources.js";

/** The Kubernetes version the lab reports (an AKS-supported minor). */
export const KUBE_VERSION = { major: "1", minor: "31", gitVersion: "v1.31.2" };

export function versionInfo() {
  return {
    major: KUBE_VERSION.major,
    minor: KUBE_VERSION.minor,
    gitVersion: KUBE_VERSION.gitVersion,
    gitCommit: "da53587841b4960dc3bd2af1ec6101b57c79aff4",
    gitTreeState: "clean",
    buildDate: "2025-03-11T19:52:24Z",
    goVersion: "go1.23.6",
    compiler: "gc",
    platform: "linux/amd64",
  };
}

const groups = () => [...new Set(RESOURCES.filter((r) => r.group).map((r) => r.group))];
const versionsOf = (group: string) => [
  ...new Set(RESOURCES.filter((r) => r.group === group).map((r) => r.version)),
];

export function coreVersions(serverAddress: string) {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
  };
}

function groupDoc(group: string) {
  const versions = versionsOf(group).map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
  return { name: group, versions, preferredVersion: versions[0]! };
}

export function groupList() {
  return { kind: "APIGroupList", apiVersion: "v1", groups: groups().map(groupDoc) };
}

export function apiGroup(group: string) {
  if (!groups().includes(group)) return undefined;
  return { kind: "APIGroup", apiVersion: "v1", ...groupDoc(group) };
}

export function resourceList(group: string, version: string) {
  const defs = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (defs.length === 0) return undefined;
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: apiVersionOf({ group, version }),
    resources: defs.flatMap((d) => [
      {
        name: d.resource,
        singularName: d.singular,
        namespaced: d.namespaced,
        kind: d.kind,
        verbs: d.verbs,
        ...(d.shortNames.length ? { shortNames: d.shortNames } : {}),
        storageVersionHash: hash(`${d.group}/${d.version}/${d.kind}`).slice(0, 12),
      },
      ...(d.resource === "deployments"
        ? [
            {
              name: "deployments/status",
              singularName: "",
              namespaced: true,
              kind: "Deployment",
              verbs: ["get", "patch", "update"],
            },
          ]
        : []),
    ]),
  };
}

const hash = (s: string) => createHash("sha512").update(s).digest("hex").toUpperCase();

/** OpenAPI v3 root: one document per group-version. */
export function openApiV3Root() {
  const gvs = [...new Set(RESOURCES.map((r) => apiVersionOf(r)))];
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const gv of gvs) {
    const p = gv.includes("/") ? `apis/${gv}` : `api/${gv}`;
    paths[p] = {
      serverRelativeURL: `/openapi/v3/${p}?hash=${hash(JSON.stringify(openApiV3(gv))).slice(0, 128)}`,
    };
  }
  return { paths };
}

const queryParam = (name: string, description: string) => ({
  name,
  in: "query",
  description,
  schema: { type: "string", uniqueItems: true },
});

const PATCH_PARAMS = [
  queryParam("dryRun", "When present, indicates that modifications should not be persisted."),
  queryParam(
    "fieldManager",
    "fieldManager is a name associated with the actor or entity that is making these changes.",
  ),
  queryParam(
    "fieldValidation",
    "Ignore, Warn or Strict: how the server handles unknown or duplicate fields.",
  ),
  { name: "force", in: "query", schema: { type: "boolean", uniqueItems: true } },
];

function pathsFor(d: ResourceDef) {
  const base = d.group ? `/apis/${d.group}/${d.version}` : `/api/${d.version}`;
  const collection = d.namespaced ? `${base}/namespaces/{namespace}/${d.resource}` : `${base}/${d.resource}`;
  const gvk = { group: d.group, version: d.version, kind: d.kind };
  const ref = { $ref: `#/components/schemas/${schemaName(d)}` };
  const op = (action: string, extra: Record<string, unknown> = {}) => ({
    operationId: `${action}${d.kind}`,
    "x-kubernetes-action": action,
    "x-kubernetes-group-version-kind": gvk,
    responses: { "200": { description: "OK", content: { "application/json": { schema: ref } } } },
    ...extra,
  });
  return {
    [collection]: {
      get: op("list"),
      post: op("post", { parameters: PATCH_PARAMS.filter((p) => p.name !== "force") }),
    },
    [`${collection}/{name}`]: {
      get: op("get"),
      put: op("put", { parameters: PATCH_PARAMS.filter((p) => p.name !== "force") }),
      patch: op("patch", {
        parameters: PATCH_PARAMS,
        requestBody: {
          content: Object.fromEntries(
            [
              "application/apply-patch+yaml",
              "application/json-patch+json",
              "application/merge-patch+json",
              "application/strategic-merge-patch+json",
            ].map((t) => [t, { schema: { type: "object" } }]),
          ),
        },
      }),
      delete: op("delete"),
    },
  };
}

const schemaName = (d: ResourceDef) =>
  `io.k8s.api.${d.group ? d.group.split(".")[0] : "core"}.${d.version}.${d.kind}`;

/** OpenAPI v3 document of one group-version (`v1`, `apps/v1`, …). */
export function openApiV3(groupVersion: string) {
  const defs = RESOURCES.filter((r) => apiVersionOf(r) === groupVersion);
  if (defs.length === 0) return undefined;
  return {
    openapi: "3.0.0",
    info: { title: "Kubernetes", version: KUBE_VERSION.gitVersion },
    paths: Object.fromEntries(defs.flatMap((d) => Object.entries(pathsFor(d)))),
    components: {
      schemas: Object.fromEntries(
        defs.map((d) => [
          schemaName(d),
          {
            type: "object",
            "x-kubernetes-group-version-kind": [{ group: d.group, version: d.version, kind: d.kind }],
            "x-kubernetes-preserve-unknown-fields": true,
          },
        ]),
      ),
    },
  };
}

/** A minimal OpenAPI v2 document (JSON). */
export function openApiV2() {
  return {
    swagger: "2.0",
    info: { title: "Kubernetes", version: KUBE_VERSION.gitVersion },
    paths: {},
    definitions: Object.fromEntries(
      RESOURCES.map((d) => [
        schemaName(d),
        {
          type: "object",
          "x-kubernetes-group-version-kind": [{ group: d.group, version: d.version, kind: d.kind }],
        },
      ]),
    ),
  };
}

// ---------------------------------------------------------------- OpenAPI v2 as protobuf

/** Protobuf wire encoding, just enough for gnostic's openapi_v2.Document. */
const varint = (n: number): Buffer => {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return Buffer.from(bytes);
};
const field = (no: number, payload: Buffer | string): Buffer => {
  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  return Buffer.concat([varint((no << 3) | 2), varint(body.length), body]);
};
const msg = (...parts: Buffer[]) => Buffer.concat(parts);

/**
 * OpenAPI v2 in the protobuf form kubectl 1.27 asks for (gnostic `openapi.v2.Document`): every PATCH
 * operation with its `x-kubernetes-group-version-kind` and the `fieldValidation` query parameter, so
 * kubectl's field-validation verifier finds server-side validation.
 */
export function openApiV2Protobuf(): Buffer {
  const queryParameter = (name: string) =>
    // ParametersItem.parameter(1) → Parameter.non_body_parameter(2) → NonBodyParameter.query_parameter_sub_schema(3)
    field(8, field(1, field(2, field(3, msg(field(2, "query"), field(4, name), field(6, "string"))))));
  const paths = RESOURCES.map((d) => {
    const base = d.group ? `/apis/${d.group}/${d.version}` : `/api/${d.version}`;
    const path = d.namespaced
      ? `${base}/namespaces/{namespace}/${d.resource}/{name}`
      : `${base}/${d.resource}/{name}`;
    const gvk = `group: "${d.group}"\nkind: ${d.kind}\nversion: ${d.version}\n`;
    const operation = msg(
      field(5, `patch${d.kind}`),
      ...["dryRun", "fieldManager", "fieldValidation", "force"].map(queryParameter),
      // vendor_extension(13): NamedAny{name, value: Any{yaml(2)}}
      field(13, msg(field(1, "x-kubernetes-group-version-kind"), field(2, field(2, gvk)))),
    );
    // Paths.path(2): NamedPathItem{name(1), value(2): PathItem{patch(8)}}
    return field(2, msg(field(1, path), field(2, field(8, operation))));
  });
  return msg(
    field(1, "2.0"),
    field(2, msg(field(1, "Kubernetes"), field(2, KUBE_VERSION.gitVersion))),
    field(8, msg(...paths)),
  );
}
