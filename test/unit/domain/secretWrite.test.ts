import { test } from "node:test";
import assert from "node:assert/strict";
import {
  mergeCaBundle,
  planSecretRestore,
  planSecretWrite,
  rollbackMarker,
  type ObservedBackup,
  type ObservedSecret,
  type SecretRestoreFacts,
  type SecretRestorePlan,
  type SecretWriteFacts,
  type SecretWritePlan,
} from "../../../src/domain/secretWrite.js";

const RUN = "rot-2";
const OLD = { version: "v1", thumbprint: "AA11" };
const NEW = { version: "v2", thumbprint: "BB22" };

/** The Secret as read: carrying the old version, written by an earlier run. */
const aSecret = (over: Partial<ObservedSecret> = {}): ObservedSecret => ({
  carried: OLD,
  writtenBy: "rot-1",
  resourceVersion: "100",
  ...over,
});

/** A backup we made in this run, holding the old version. */
const aBackup = (over: Partial<ObservedBackup> = {}): ObservedBackup => ({
  owner: { kind: "ours", rotationId: RUN },
  carried: OLD,
  ...over,
});

const writeFacts = (over: Partial<SecretWriteFacts> = {}): SecretWriteFacts => ({
  rotationId: RUN,
  target: { version: NEW.version, thumbprint: "bb:22" },
  secret: aSecret(),
  backup: { owner: { kind: "none" }, carried: {} },
  names: { namespace: "api", secret: "backend-tls", backup: "backend-tls-previous" },
  ...over,
});

const writes: { name: string; facts: SecretWriteFacts; plan: SecretWritePlan }[] = [
  {
    name: "a Secret without a backup is backed up (created), then replaced",
    facts: writeFacts(),
    plan: {
      action: "write",
      backup: "create",
      secret: "replace",
      snapshot: {
        kind: "kubernetesSecret",
        existed: true,
        previousVersion: "v1",
        previousThumbprint: "AA11",
        backupSecretName: "backend-tls-previous",
      },
    },
  },
  {
    name: "an absent Secret is created, with nothing to back up",
    facts: writeFacts({ secret: undefined, backup: undefined }),
    plan: {
      action: "write",
      backup: "none",
      secret: "create",
      snapshot: { kind: "kubernetesSecret", existed: false },
    },
  },
  {
    name: "a backup of ours from another run is replaced by a fresh copy of the Secret",
    facts: writeFacts({
      backup: aBackup({ owner: { kind: "ours", rotationId: "rot-0" }, carried: { version: "v0" } }),
    }),
    plan: {
      action: "write",
      backup: "replace",
      secret: "replace",
      snapshot: {
        kind: "kubernetesSecret",
        existed: true,
        previousVersion: "v1",
        previousThumbprint: "AA11",
        backupSecretName: "backend-tls-previous",
      },
    },
  },
  {
    name: "this run's backup is replaced when this run's write did not land (an attempt that failed before it)",
    facts: writeFacts({ backup: aBackup({ carried: { version: "v0" } }) }),
    plan: {
      action: "write",
      backup: "replace",
      secret: "replace",
      snapshot: {
        kind: "kubernetesSecret",
        existed: true,
        previousVersion: "v1",
        previousThumbprint: "AA11",
        backupSecretName: "backend-tls-previous",
      },
    },
  },
  {
    name: "a Secret changed by hand after this run's write keeps this run's backup, which still holds the state before the run",
    facts: writeFacts({
      secret: aSecret({ writtenBy: RUN, carried: { thumbprint: "CC33" } }),
      backup: aBackup(),
    }),
    plan: {
      action: "write",
      backup: "keep",
      secret: "replace",
      snapshot: {
        kind: "kubernetesSecret",
        existed: true,
        previousVersion: "v1",
        previousThumbprint: "AA11",
        backupSecretName: "backend-tls-previous",
      },
    },
  },
  {
    name: "a retry after this run's write landed writes nothing and answers the snapshot from this run's backup",
    facts: writeFacts({
      secret: aSecret({ writtenBy: RUN, carried: NEW, resourceVersion: "101" }),
      backup: aBackup(),
    }),
    plan: {
      action: "alreadyApplied",
      snapshot: {
        kind: "kubernetesSecret",
        existed: true,
        previousVersion: "v1",
        previousThumbprint: "AA11",
        backupSecretName: "backend-tls-previous",
        resourceVersionAfterWrite: "101",
      },
    },
  },
  {
    name: "a retry of a write that created the Secret (no backup of this run) says the Secret did not exist",
    facts: writeFacts({
      secret: aSecret({ writtenBy: RUN, carried: NEW, resourceVersion: "7" }),
      backup: aBackup({ owner: { kind: "ours", rotationId: "rot-0" } }),
    }),
    plan: {
      action: "alreadyApplied",
      snapshot: { kind: "kubernetesSecret", existed: false, resourceVersionAfterWrite: "7" },
    },
  },
  {
    name: "the target version under another leaf is not taken for this run's write",
    facts: writeFacts({
      secret: aSecret({ writtenBy: RUN, carried: { version: "v2", thumbprint: "DD44" } }),
    }),
    plan: {
      action: "write",
      backup: "create",
      secret: "replace",
      snapshot: {
        kind: "kubernetesSecret",
        existed: true,
        previousVersion: "v2",
        previousThumbprint: "DD44",
        backupSecretName: "backend-tls-previous",
      },
    },
  },
  {
    name: "a foreign Secret named like the backup stops the write, which did not happen",
    facts: writeFacts({ backup: aBackup({ owner: { kind: "foreign" } }) }),
    plan: {
      action: "refuse",
      write: "notApplied",
      reason: "BackupNameTaken",
      message:
        "Secret api/backend-tls-previous exists and is not a backup this control plane made, so it was left alone and Secret api/backend-tls was not written; rename or remove it so the previous certificate can be kept for rollback.",
    },
  },
  {
    name: "a foreign backup found after this run's write landed leaves the write unknown (not confirmed)",
    facts: writeFacts({
      secret: aSecret({ writtenBy: RUN }),
      backup: aBackup({ owner: { kind: "foreign" } }),
    }),
    plan: {
      action: "refuse",
      write: "unknown",
      reason: "BackupNameTaken",
      message:
        "Secret api/backend-tls-previous exists and is not a backup this control plane made, so it was left alone and Secret api/backend-tls was not confirmed; rename or remove it so the previous certificate can be kept for rollback.",
    },
  },
];

for (const c of writes) {
  test(c.name, () => assert.deepEqual(planSecretWrite(c.facts), c.plan));
}

const VAULT_URL = "https://kv-lab.vault.azure.net";

const restoreFacts = (over: Partial<SecretRestoreFacts> = {}): SecretRestoreFacts => ({
  action: {
    restore: { from: "backupSecret", secretName: "backend-tls-previous" },
    expectedResourceVersion: "101",
  },
  rotationId: RUN,
  secret: {
    ...aSecret({ writtenBy: RUN, carried: NEW, resourceVersion: "101" }),
    certificate: { vaultName: "kv-lab", certificateName: "api" },
  },
  backup: aBackup(),
  vaultUrl: (name) => (name === "kv-lab" ? VAULT_URL : undefined),
  names: { secret: "api/backend-tls", backup: "api/backend-tls-previous" },
  ...over,
});

const restores: { name: string; facts: SecretRestoreFacts; plan: SecretRestorePlan }[] = [
  {
    name: "a Secret still as we wrote it is restored from this run's backup",
    facts: restoreFacts(),
    plan: { action: "restoreFromBackup", carried: OLD },
  },
  {
    name: "a Secret that did not exist before is deleted",
    facts: restoreFacts({ action: { restore: { from: "delete" }, expectedResourceVersion: "101" } }),
    plan: { action: "delete" },
  },
  {
    name: "a Secret to delete that is already gone is deleted again (idempotent)",
    facts: restoreFacts({
      action: { restore: { from: "delete" }, expectedResourceVersion: "101" },
      secret: undefined,
    }),
    plan: { action: "delete" },
  },
  {
    name: "a Secret to delete that someone changed after our write is left alone",
    facts: restoreFacts({
      action: { restore: { from: "delete" }, expectedResourceVersion: "99" },
    }),
    plan: {
      action: "refuse",
      reason: "ModifiedSinceWrite",
      message: "Secret api/backend-tls was changed by someone else after our write; it was left alone.",
    },
  },
  {
    name: "a Secret that someone changed after our write is left alone",
    facts: restoreFacts({
      action: { restore: { from: "vaultVersion", version: "v1" }, expectedResourceVersion: "99" },
    }),
    plan: {
      action: "refuse",
      reason: "ModifiedSinceWrite",
      message: "Secret api/backend-tls was changed by someone else after our write; it was left alone.",
    },
  },
  {
    name: "a Secret this rollback restored already (a retry) is not written again",
    facts: restoreFacts({
      secret: aSecret({ writtenBy: rollbackMarker(RUN), resourceVersion: "102" }),
    }),
    plan: { action: "alreadyRestored" },
  },
  {
    name: "a Secret that is gone cannot be restored",
    facts: restoreFacts({ secret: undefined }),
    plan: { action: "refuse", reason: "SecretMissing", message: "Secret api/backend-tls no longer exists." },
  },
  {
    name: "a backup that is gone cannot be restored from",
    facts: restoreFacts({ backup: { owner: { kind: "none" }, carried: {} } }),
    plan: {
      action: "refuse",
      reason: "BackupMissing",
      message: "The backup Secret api/backend-tls-previous is gone.",
    },
  },
  {
    name: "a backup another run made is not restored from: it does not hold the state before this run",
    facts: restoreFacts({ backup: aBackup({ owner: { kind: "ours", rotationId: "rot-1" } }) }),
    plan: {
      action: "refuse",
      reason: "BackupFromAnotherRotation",
      message:
        "The Secret api/backend-tls-previous is a backup made by another rotation run (rot-1), so Secret api/backend-tls was not restored from it.",
    },
  },
  {
    name: "a Secret named like the backup that we did not make is not restored from",
    facts: restoreFacts({ backup: aBackup({ owner: { kind: "foreign" } }) }),
    plan: {
      action: "refuse",
      reason: "BackupNotOurs",
      message:
        "The Secret api/backend-tls-previous is not a backup this control plane made, so Secret api/backend-tls was not restored from it.",
    },
  },
  {
    name: "a vault version is restored from the certificate the Secret names",
    facts: restoreFacts({
      action: { restore: { from: "vaultVersion", version: "v1" }, expectedResourceVersion: "101" },
    }),
    plan: { action: "restoreFromVault", vaultUrl: VAULT_URL, certificateName: "api", version: "v1" },
  },
  {
    name: "a vault version cannot be restored when the Secret names no allowed vault",
    facts: restoreFacts({
      action: { restore: { from: "vaultVersion", version: "v1" } },
      secret: { ...aSecret(), certificate: { vaultName: "kv-other", certificateName: "api" } },
    }),
    plan: {
      action: "refuse",
      reason: "PreviousVersionUnknown",
      message: "Secret api/backend-tls names no allowed vault certificate.",
    },
  },
];

for (const c of restores) {
  test(c.name, () => assert.deepEqual(planSecretRestore(c.facts), c.plan));
}

const pemOf = (body: string) => `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----`;
const CA_OLD = pemOf("T0xE");
const CA_NEW = pemOf("TkVX");
const CA_OTHER = pemOf("T1RIRVI=");
const bundle = (...pems: string[]) => pems.join("\n") + "\n";

const caCases: { name: string; next: string; current: string | undefined; merged: string }[] = [
  {
    name: "a client-CA change keeps the old CA after the new one",
    next: bundle(CA_NEW),
    current: bundle(CA_OLD),
    merged: bundle(CA_NEW, CA_OLD),
  },
  {
    name: "a renewal under the same CA writes it once",
    next: bundle(CA_OLD),
    current: bundle(CA_OLD),
    merged: bundle(CA_OLD),
  },
  {
    name: "a CA the Secret trusts for other clients stays trusted",
    next: bundle(CA_NEW),
    current: bundle(CA_OTHER, CA_OLD),
    merged: bundle(CA_NEW, CA_OTHER, CA_OLD),
  },
  {
    name: "a bundle with line breaks inside the body is recognised as the same CA",
    next: bundle(CA_NEW),
    current: `${pemOf("Tk\nVX")}\r\n`,
    merged: bundle(CA_NEW),
  },
  {
    name: "a Secret without ca.crt gets the new chain",
    next: bundle(CA_NEW),
    current: undefined,
    merged: bundle(CA_NEW),
  },
];

for (const c of caCases) {
  test(c.name, () => {
    assert.equal(mergeCaBundle(c.next, c.current), c.merged);
  });
}
