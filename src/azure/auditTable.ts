/**
 * The audit table: one row per rollout run. PartitionKey the certificate (`<vault>|<certificate>`,
 * lower case), RowKey the run id (the instance id is the certificate's and reused by every rollout
 * of it, so one row per run keeps each rollout's record), summary columns for queries, and the
 * report as JSON split over `report0…N` columns below the 64 KiB property limit.
 */
import { odata, type TableClient } from "@azure/data-tables";
import type { Config } from "../config.js";
import { allowedVault, allowedVaultNames } from "../domain/allowedVaults.js";
import { parseRotationInstanceId } from "../domain/instanceIds.js";
import { instanceIdOfRun, runIdOf, type RolloutReport } from "../domain/report.js";

/** Characters of report JSON per column (UTF-16: well below 64 KiB). */
const CHUNK = 30_000;

/** A certificate as the audit table keys it. */
export interface AuditedCertificate {
  vaultName: string;
  certificateName: string;
}

/** The audit PartitionKey of a certificate. */
export const auditPartitionKey = (c: AuditedCertificate): string =>
  `${c.vaultName}|${c.certificateName}`.toLowerCase();

/** The audit RowKey of a run id (Table RowKeys may not contain / \ # ? or control characters). */
export const auditRowKey = (runId: string): string =>
  [...runId]
    .map((ch) => {
      const code = ch.charCodeAt(0);
      return "/\\#?".includes(ch) || code < 32 || (code >= 127 && code < 160) ? "_" : ch;
    })
    .join("");

/** The audit entity of a report: keys, summary columns and the report columns. */
export function auditEntity(
  r: RolloutReport,
): { partitionKey: string; rowKey: string; state: string } & Record<string, unknown> {
  const runId = runIdOf(r);
  const json = JSON.stringify(r);
  const columns: Record<string, string> = {};
  for (let i = 0; i * CHUNK < json.length; i++)
    columns[`report${i}`] = json.slice(i * CHUNK, (i + 1) * CHUNK);
  return {
    partitionKey: auditPartitionKey(r.certificate),
    rowKey: auditRowKey(runId),
    instanceId: r.instanceId,
    runId,
    vaultName: r.certificate.vaultName,
    certificateName: r.certificate.certificateName,
    trigger: r.trigger.kind,
    dryRun: r.dryRun,
    startedAt: r.startedAt,
    ...(r.finishedAt ? { finishedAt: r.finishedAt } : {}),
    state: r.outcome?.state ?? "Running",
    ...(r.outcome ? { reason: r.outcome.reason } : {}),
    ...(r.versions.previous?.version ? { previousVersion: r.versions.previous.version } : {}),
    ...(r.versions.next?.version ? { newVersion: r.versions.next.version } : {}),
    ...columns,
  };
}

/** Upserts (replaces) the audit row of a report's run; answers its keys. Storage errors are thrown. */
export async function writeAudit(
  table: TableClient,
  report: RolloutReport,
): Promise<{ partitionKey: string; rowKey: string; state: string }> {
  const entity = auditEntity(report);
  await table.upsertEntity(entity, "Replace");
  return { partitionKey: entity.partitionKey, rowKey: entity.rowKey, state: entity.state };
}

/** The report stored in an audit entity (joins the report columns). Throws when they are not JSON. */
export function reportOf(entity: Record<string, unknown>): RolloutReport {
  const parts: string[] = [];
  for (let i = 0; typeof entity[`report${i}`] === "string"; i++) parts.push(entity[`report${i}`] as string);
  return JSON.parse(parts.join("")) as RolloutReport;
}

/** One audit row as the API shows it: its summary columns and its report (absent when unreadable). */
export type AuditRecord = Record<string, unknown> & { report?: RolloutReport };

/** Decodes an audit entity: the summary columns without table metadata, and the joined report. */
export function auditRecordOf(entity: Record<string, unknown>): AuditRecord {
  const record: AuditRecord = {};
  for (const [k, v] of Object.entries(entity)) {
    if (k === "etag" || k.startsWith("odata") || /^report\d+$/.test(k)) continue;
    record[k] = v;
  }
  try {
    record.report = reportOf(entity);
  } catch {
    // A row without readable report columns: the summary columns still say what happened.
  }
  return record;
}

const startedAtOf = (r: AuditRecord): string => (typeof r.startedAt === "string" ? r.startedAt : "");
const newestFirst = (a: AuditRecord, b: AuditRecord) => startedAtOf(b).localeCompare(startedAtOf(a));

/** Audit rows matching `filter` (an OData filter; every row without one), newest first. */
export async function auditRecords(table: TableClient, filter?: string): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  for await (const entity of table.listEntities(filter ? { queryOptions: { filter } } : {}))
    records.push(auditRecordOf(entity));
  return records.sort(newestFirst);
}

/** The audit rows in `partitions` (certificates), narrowed by an OData filter `extra`, newest first. */
export async function partitionAuditRecords(
  table: TableClient,
  partitions: readonly string[],
  extra?: string,
): Promise<AuditRecord[]> {
  const all = await Promise.all(
    partitions.map((pk) =>
      auditRecords(
        table,
        extra ? `${odata`PartitionKey eq ${pk}`} and ${extra}` : odata`PartitionKey eq ${pk}`,
      ),
    ),
  );
  return all.flat().sort(newestFirst);
}

/**
 * The audited report of `id`: a run id names one row (by PartitionKey and RowKey when the
 * certificate can be read from the id); an instance id answers its latest run.
 */
export async function auditedReport(table: TableClient, id: string): Promise<RolloutReport | undefined> {
  const instanceId = instanceIdOfRun(id) ?? id;
  const certificate = parseRotationInstanceId(instanceId);
  const partitions = certificate ? [auditPartitionKey(certificate)] : undefined;
  const filter = instanceIdOfRun(id) ? odata`RowKey eq ${auditRowKey(id)}` : odata`instanceId eq ${id}`;
  const rows = partitions
    ? await partitionAuditRecords(table, partitions, filter)
    : await auditRecords(table, filter);
  return instanceIdOfRun(id) ? rows[0]?.report : rows.find((r) => r.report)?.report;
}

/**
 * The audit partitions `certificate` names: `vault/name` (vault name or URL) is one partition; a bare
 * name is that certificate in each allowed vault. Undefined when `certificate` names no allowed vault.
 */
export function certificatePartitions(
  config: Pick<Config, "allowedVaultUrls">,
  certificate: string,
): string[] | undefined {
  const slash = certificate.lastIndexOf("/");
  if (slash < 0)
    return allowedVaultNames(config).map((vaultName) =>
      auditPartitionKey({ vaultName, certificateName: certificate.trim() }),
    );
  const vaultName = allowedVault(config, certificate.slice(0, slash));
  return vaultName
    ? [auditPartitionKey({ vaultName, certificateName: certificate.slice(slash + 1).trim() })]
    : undefined;
}
