/**
 * Server-side printing: `kubectl get` asks for `application/json;as=Table;v=v1;g=meta.k8s.io` and
 * prints the columns the server chooses (the same columns the real printers define).
 */
import type { KubeObject } from "./api.js";

interface Column {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

const col = (name: string, type = "string", format = "", priority = 0): Column => ({
  name,
  type,
  format,
  description: name,
  priority,
});

/** True when the Accept header asks for a Table. */
export const wantsTable = (accept: string | undefined) =>
  /as=Table/i.test(accept ?? "") && /g=meta\.k8s\.io/i.test(accept ?? "");

/** `5m`, `3h`, `2d`, like duration.HumanDuration (short form). */
export function age(created: string, now: Date): string {
  const s = Math.max(0, Math.floor((now.getTime() - new Date(created).getTime()) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60 ? `${s % 60}s` : ""}`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  return d < 365 * 2 ? `${d}d` : `${Math.floor(d / 365)}y`;
}

const rec = (v: unknown): Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

function columnsAndCells(
  resource: string,
  now: Date,
): { columns: Column[]; cells: (o: KubeObject) => unknown[] } {
  const name = col("Name", "string", "name");
  const ageCol = col("Age");
  const a = (o: KubeObject) => age(o.metadata.creationTimestamp, now);
  switch (resource) {
    case "secrets":
      return {
        columns: [name, col("Type"), col("Data", "integer"), ageCol],
        cells: (o) => [o.metadata.name, o.type ?? "Opaque", Object.keys(rec(o.data)).length, a(o)],
      };
    case "namespaces":
      return {
        columns: [name, col("Status"), ageCol],
        cells: (o) => [o.metadata.name, rec(o.status).phase ?? "Active", a(o)],
      };
    case "ingresses":
      return {
        columns: [name, col("Class"), col("Hosts"), col("Address"), col("Ports"), ageCol],
        cells: (o) => {
          const spec = rec(o.spec);
          const hosts = (Array.isArray(spec.rules) ? spec.rules : []).map((r) => rec(r).host).filter(Boolean);
          const lb = rec(rec(o.status).loadBalancer);
          const addr = (Array.isArray(lb.ingress) ? lb.ingress : []).map((i) => rec(i).ip ?? rec(i).hostname);
          return [
            o.metadata.name,
            spec.ingressClassName ?? "<none>",
            hosts.length ? hosts.join(",") : "*",
            addr.join(","),
            Array.isArray(spec.tls) && spec.tls.length ? "80, 443" : "80",
            a(o),
          ];
        },
      };
    default: {
      const st = (o: KubeObject) => rec(o.status);
      return {
        columns: [name, col("Ready"), col("Up-to-date", "integer"), col("Available", "integer"), ageCol],
        cells: (o) => [
          o.metadata.name,
          `${Number(st(o).readyReplicas ?? 0)}/${Number(rec(o.spec).replicas ?? 0)}`,
          Number(st(o).updatedReplicas ?? 0),
          Number(st(o).availableReplicas ?? 0),
          a(o),
        ],
      };
    }
  }
}

/** A meta.k8s.io/v1 Table of `objects`, rows carrying PartialObjectMetadata. */
export function toTable(resource: string, objects: KubeObject[], resourceVersion: string, now: Date) {
  const { columns, cells } = columnsAndCells(resource, now);
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: { resourceVersion },
    columnDefinitions: columns,
    rows: objects.map((o) => ({
      cells: cells(o),
      object: { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata },
    })),
  };
}
