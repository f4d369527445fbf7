import { test } from "node:test";
import assert from "node:assert/strict";
import {
  parseKeyVaultEvent,
  parseKeyVaultEvents,
  toEventRecord,
  type EventRejectionReason,
  type ParseEventOptions,
} from "../../../src/domain/keyVaultEvent.js";
import { aKeyVaultEvent, type KeyVaultEventOptions } from "../../support/keyVaultEventBuilders.js";

/** The sample from the Key Vault event schema doc, verbatim except that it is a certificate. */
const docSample = {
  id: "00eccf70-95a7-4e7c-8299-2eb17ee9ad64",
  topic:
    "/subscriptions/{subscription-id}/resourceGroups/sample-rg/providers/Microsoft.KeyVault/vaults/sample-kv",
  subject: "newcert",
  eventType: "Microsoft.KeyVault.CertificateNewVersionCreated",
  eventTime: "2019-07-25T01:08:33.1036736Z",
  data: {
    Id: "https://sample-kv.vault.azure.net/certificates/newcert/ee059b2bb5bc48398a53b168c6cdcb10",
    VaultName: "sample-kv",
    ObjectType: "Certificate",
    "ObjectName ": "newcert",
    Version: " ee059b2bb5bc48398a53b168c6cdcb10",
    NBF: "1559081980",
    EXP: "1559082102",
  },
  dataVersion: "1",
  metadataVersion: "1",
};

test("the documented sample, with its padded key and value and string epochs, parses", () => {
  const r = parseKeyVaultEvent(docSample);
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.event, {
    kind: "CertificateNewVersionCreated",
    vaultName: "sample-kv",
    vaultUrl: "https://sample-kv.vault.azure.net",
    certificateName: "newcert",
    version: "ee059b2bb5bc48398a53b168c6cdcb10",
    objectId: "https://sample-kv.vault.azure.net/certificates/newcert/ee059b2bb5bc48398a53b168c6cdcb10",
    notBefore: new Date(1559081980 * 1000),
    expiresOn: new Date(1559082102 * 1000),
    eventId: "00eccf70-95a7-4e7c-8299-2eb17ee9ad64",
    eventTime: new Date("2019-07-25T01:08:33.103Z"),
    source: {
      id: docSample.topic,
      subscriptionId: "{subscription-id}",
      resourceGroup: "sample-rg",
      vaultName: "sample-kv",
    },
    schema: "EventGrid",
  });
});

const acceptedCases: { name: string; event: KeyVaultEventOptions; kind: string; schema: string }[] = [
  {
    name: "a NearExpiry in the Event Grid schema with PascalCase keys is accepted",
    event: {},
    kind: "CertificateNearExpiry",
    schema: "EventGrid",
  },
  {
    name: "an Expired in CloudEvents with camelCase keys is accepted",
    event: { schema: "CloudEvents", type: "CertificateExpired", keys: "camel" },
    kind: "CertificateExpired",
    schema: "CloudEvents",
  },
  {
    name: "a NewVersionCreated in CloudEvents with padded keys and values is accepted",
    event: { schema: "CloudEvents", type: "CertificateNewVersionCreated", padded: true, epochAs: "string" },
    kind: "CertificateNewVersionCreated",
    schema: "CloudEvents",
  },
  {
    name: "an event type in another letter case is still recognised",
    event: { type: "microsoft.keyvault.certificatenearexpiry" },
    kind: "CertificateNearExpiry",
    schema: "EventGrid",
  },
];

for (const c of acceptedCases) {
  test(c.name, () => {
    const r = parseKeyVaultEvent(aKeyVaultEvent({ nbf: 1_780_000_000, exp: 1_790_000_000, ...c.event }));
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.event.kind, c.kind);
    assert.equal(r.event.schema, c.schema);
    assert.equal(r.event.vaultName, "kv-lab");
    assert.equal(r.event.certificateName, "api-contoso");
    assert.equal(r.event.version, "ee059b2bb5bc48398a53b168c6cdcb10");
    assert.equal(r.event.expiresOn?.getTime(), 1_790_000_000_000);
    assert.equal(r.event.notBefore?.getTime(), 1_780_000_000_000);
    assert.equal(r.event.source.resourceGroup, "rg-sec");
  });
}

test("a vault on a lab host keeps its port in the vault URL", () => {
  const r = parseKeyVaultEvent(aKeyVaultEvent({ vaultHost: "kv-lab.vault.localtest:8443" }));
  assert.ok(r.ok);
  assert.equal(r.event.vaultUrl, "https://kv-lab.vault.localtest:8443");
});

test("an event without NBF and EXP leaves the dates out", () => {
  const e = aKeyVaultEvent();
  const data = e.data as Record<string, unknown>;
  delete data.NBF;
  delete data.EXP;
  const r = parseKeyVaultEvent(e);
  assert.ok(r.ok);
  assert.equal("notBefore" in r.event, false);
  assert.equal("expiresOn" in r.event, false);
});

test("object name and version missing from data are taken from the Id", () => {
  const e = aKeyVaultEvent();
  const data = e.data as Record<string, unknown>;
  delete data.ObjectName;
  delete data.Version;
  const r = parseKeyVaultEvent(e);
  assert.ok(r.ok);
  assert.equal(r.event.certificateName, "api-contoso");
  assert.equal(r.event.version, "ee059b2bb5bc48398a53b168c6cdcb10");
});

const withoutField = (schema: "EventGrid" | "CloudEvents", field: string) => {
  const e = aKeyVaultEvent({ schema });
  delete e[field];
  return e;
};

const rejectedCases: {
  name: string;
  input: unknown;
  options?: ParseEventOptions;
  reason: EventRejectionReason;
  message: RegExp;
}[] = [
  { name: "a string is malformed", input: "hello", reason: "MalformedEvent", message: /not a JSON object/ },
  { name: "null is malformed", input: null, reason: "MalformedEvent", message: /not a JSON object/ },
  {
    name: "an object of neither schema is malformed",
    input: { foo: 1 },
    reason: "MalformedEvent",
    message: /neither/,
  },
  {
    name: "an Event Grid event without a topic is malformed and names the field",
    input: withoutField("EventGrid", "topic"),
    reason: "MalformedEvent",
    message: /field topic/,
  },
  {
    name: "a CloudEvent of spec version 0.3 is malformed",
    input: { ...aKeyVaultEvent({ schema: "CloudEvents" }), specversion: "0.3" },
    reason: "MalformedEvent",
    message: /specversion/,
  },
  {
    name: "a CloudEvent without data is malformed",
    input: withoutField("CloudEvents", "data"),
    reason: "MalformedEvent",
    message: /field data/,
  },
  {
    name: "a blob-created event is an unknown type",
    input: aKeyVaultEvent({ type: "Microsoft.Storage.BlobCreated" }),
    reason: "UnknownEventType",
    message: /not a Key Vault event/,
  },
  {
    name: "a Key Vault event type we do not know is an unknown type",
    input: aKeyVaultEvent({ type: "CertificateDeleted" }),
    reason: "UnknownEventType",
    message: /CertificateDeleted/,
  },
  {
    name: "a secret event is not a certificate",
    input: aKeyVaultEvent({ type: "SecretNewVersionCreated" }),
    reason: "NotACertificate",
    message: /not a certificate/,
  },
  {
    name: "an access policy change is not a certificate",
    input: aKeyVaultEvent({ type: "VaultAccessPolicyChanged" }),
    reason: "NotACertificate",
    message: /not a certificate/,
  },
  {
    name: "a certificate event whose ObjectType says Secret is not a certificate",
    input: aKeyVaultEvent({ data: { ObjectType: "Secret" } }),
    reason: "NotACertificate",
    message: /ObjectType is "Secret"/,
  },
  {
    name: "a certificate event whose Id points at a secret is not a certificate",
    input: aKeyVaultEvent({
      data: { Id: "https://kv-lab.vault.azure.net/secrets/api-contoso/ee059b2bb5bc48398a53b168c6cdcb10" },
    }),
    reason: "NotACertificate",
    message: /secrets object/,
  },
  {
    name: "a topic that is not a vault ARM id is malformed",
    input: {
      ...aKeyVaultEvent(),
      topic: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x",
    },
    reason: "MalformedEvent",
    message: /not the ARM id of a Key Vault/,
  },
  {
    name: "an event without Id is malformed",
    input: aKeyVaultEvent({ data: { Id: " " } }),
    reason: "MalformedEvent",
    message: /no Id/,
  },
  {
    name: "an Id over plain http is malformed",
    input: aKeyVaultEvent({ data: { Id: "http://kv-lab.vault.azure.net/certificates/api-contoso/v1" } }),
    reason: "MalformedEvent",
    message: /versioned Key Vault object URL/,
  },
  {
    name: "an Id without a version is malformed",
    input: aKeyVaultEvent({ data: { Id: "https://kv-lab.vault.azure.net/certificates/api-contoso" } }),
    reason: "MalformedEvent",
    message: /versioned/,
  },
  {
    name: "an ObjectName that contradicts the Id is malformed",
    input: aKeyVaultEvent({ data: { ObjectName: "other" } }),
    reason: "MalformedEvent",
    message: /ObjectName "other"/,
  },
  {
    name: "a Version that contradicts the Id is malformed",
    input: aKeyVaultEvent({ data: { Version: "0123" } }),
    reason: "MalformedEvent",
    message: /Version "0123"/,
  },
  {
    name: "a VaultName that contradicts the topic is malformed",
    input: aKeyVaultEvent({ data: { VaultName: "kv-other" } }),
    reason: "MalformedEvent",
    message: /VaultName "kv-other"/,
  },
  {
    name: "an EXP that is not a number is malformed",
    input: aKeyVaultEvent({ data: { EXP: "tomorrow" } }),
    reason: "MalformedEvent",
    message: /EXP "tomorrow"/,
  },
  {
    name: "an event time that is not a date is malformed",
    input: aKeyVaultEvent({ time: "yesterday" }),
    reason: "MalformedEvent",
    message: /event time "yesterday"/,
  },
  {
    name: "a vault outside the allow-list is refused",
    input: aKeyVaultEvent({ vault: "kv-rogue" }),
    options: { allowedVaults: ["kv-lab"] },
    reason: "VaultNotAllowed",
    message: /"kv-rogue" is not in the allow-list/,
  },
  {
    name: "an empty allow-list refuses every vault",
    input: aKeyVaultEvent(),
    options: { allowedVaults: [] },
    reason: "VaultNotAllowed",
    message: /allow-list/,
  },
];

for (const c of rejectedCases) {
  test(c.name, () => {
    const r = parseKeyVaultEvent(c.input, c.options);
    assert.ok(!r.ok, `expected a rejection, got ${JSON.stringify(r)}`);
    assert.equal(r.rejection.reason, c.reason, r.rejection.message);
    assert.match(r.rejection.message, c.message);
  });
}

test("a rejection names the event id and type so the log line can too", () => {
  const r = parseKeyVaultEvent(aKeyVaultEvent({ type: "SecretExpired", id: "evt-1" }));
  assert.ok(!r.ok);
  assert.equal(r.rejection.eventId, "evt-1");
  assert.equal(r.rejection.eventType, "Microsoft.KeyVault.SecretExpired");
});

const allowCases: { name: string; allowed: string[] }[] = [
  { name: "the allow-list matches vault names in any case", allowed: ["KV-LAB"] },
  {
    name: "the allow-list matches a vault ARM id in any case",
    allowed: [
      "/subscriptions/00000000-0000-0000-0000-000000000001/resourcegroups/RG-SEC/providers/microsoft.keyvault/vaults/kv-lab/",
    ],
  },
];
for (const c of allowCases) {
  test(c.name, () => {
    assert.ok(parseKeyVaultEvent(aKeyVaultEvent(), { allowedVaults: c.allowed }).ok);
  });
}

test("a batch is parsed event by event, in order, one bad event not spoiling the others", () => {
  const results = parseKeyVaultEvents([
    aKeyVaultEvent({ id: "a" }),
    aKeyVaultEvent({ id: "b", type: "SecretExpired" }),
    aKeyVaultEvent({ id: "c", schema: "CloudEvents" }),
  ]);
  assert.deepEqual(
    results.map((r) => (r.ok ? r.event.eventId : r.rejection.reason)),
    ["a", "NotACertificate", "c"],
  );
  assert.equal(parseKeyVaultEvents(aKeyVaultEvent()).length, 1);
});

test("odd shapes are rejected, never thrown", () => {
  const weird: unknown[] = [
    undefined,
    0,
    [],
    { eventType: 5 },
    { specversion: {}, data: [] },
    { eventType: "x", data: null },
  ];
  for (const w of weird) assert.equal(parseKeyVaultEvent(w).ok, false);
});

test("an event record carries ISO dates and survives JSON unchanged", () => {
  const r = parseKeyVaultEvent(aKeyVaultEvent({ exp: 1_790_000_000 }));
  assert.ok(r.ok);
  const record = toEventRecord(r.event);
  assert.equal(record.expiresOn, new Date(1_790_000_000_000).toISOString());
  assert.equal(record.eventTime, "2026-06-01T12:00:00.103Z");
  assert.deepEqual(JSON.parse(JSON.stringify(record)), record);
});
