/**
 * Builders for Key Vault events as they arrive on the wire, in the Event Grid schema or CloudEvents
 * 1.0, with the quirks seen in the wild available as options (FACTS.md §1).
 */

/** Options of {@link aKeyVaultEvent}. */
export interface KeyVaultEventOptions {
  schema?: "EventGrid" | "CloudEvents";
  /** Event type suffix after `Microsoft.KeyVault.`, or a whole type when it contains a dot. */
  type?: string;
  vault?: string;
  certificate?: string;
  version?: string;
  /** Key style of `data`: PascalCase (the 2021 doc), camelCase (the 2020 doc and the SDK types). */
  keys?: "Pascal" | "camel";
  /** Pad keys and values with spaces, as the doc's own sample does. */
  padded?: boolean;
  /** NBF/EXP as numbers or as numeric strings. */
  epochAs?: "number" | "string";
  nbf?: number;
  exp?: number;
  vaultHost?: string;
  /** Extra or replacement `data` entries (after key styling). */
  data?: Record<string, unknown>;
  id?: string;
  time?: string;
}

const SUB = "00000000-0000-0000-0000-000000000001";

/** An event object as Event Grid would deliver it. */
export function aKeyVaultEvent(o: KeyVaultEventOptions = {}): Record<string, unknown> {
  const vault = o.vault ?? "kv-lab";
  const certificate = o.certificate ?? "api-contoso";
  const version = o.version ?? "ee059b2bb5bc48398a53b168c6cdcb10";
  const host = o.vaultHost ?? `${vault}.vault.azure.net`;
  const pad = (s: string, where: "key" | "value") => (o.padded ? (where === "key" ? `${s} ` : ` ${s}`) : s);
  const epoch = (n: number) => (o.epochAs === "string" ? String(n) : n);
  const names =
    o.keys === "camel"
      ? ["id", "vaultName", "objectType", "objectName", "version", "nbf", "exp"]
      : ["Id", "VaultName", "ObjectType", "ObjectName", "Version", "NBF", "EXP"];
  const values: unknown[] = [
    `https://${host}/certificates/${certificate}/${version}`,
    pad(vault, "value"),
    "Certificate",
    pad(certificate, "value"),
    pad(version, "value"),
    epoch(o.nbf ?? 1_780_000_000),
    epoch(o.exp ?? 1_790_000_000),
  ];
  const data: Record<string, unknown> = {};
  names.forEach((n, i) => (data[pad(n, "key")] = values[i]));
  Object.assign(data, o.data ?? {});
  const type = o.type?.includes(".") ? o.type : `Microsoft.KeyVault.${o.type ?? "CertificateNearExpiry"}`;
  const source = `/subscriptions/${SUB}/resourceGroups/rg-sec/providers/Microsoft.KeyVault/vaults/${vault}`;
  const id = o.id ?? "00eccf70-95a7-4e7c-8299-2eb17ee9ad64";
  const time = o.time ?? "2026-06-01T12:00:00.1036736Z";
  return o.schema === "CloudEvents"
    ? { id, source, subject: certificate, type, time, data, specversion: "1.0" }
    : {
        id,
        topic: source,
        subject: certificate,
        eventType: type,
        eventTime: time,
        data,
        dataVersion: "1",
        metadataVersion: "1",
      };
}
