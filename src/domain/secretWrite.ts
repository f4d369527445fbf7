/**
 * Deciding the Kubernetes Secret writes, apart from doing them: from what the activity read (the
 * Secret, the Secret named like its backup, who made that backup, the version each carries), what to
 * write — create or replace the Secret, make, refresh or keep the backup, answer a retry that already
 * landed, or refuse. Rolling back is decided the same way: delete, restore from this run's backup or
 * from a vault version, answer a restore that already landed, or refuse.
 *
 * Pure: the activities (applyKubernetesSecret, rollbackTarget) read, call these, and carry out the
 * answer. No key material comes here.
 */
import type { KubernetesRollbackAction, KubernetesSecretSnapshot, Reasoned } from "./rollback.js";
import { normaliseThumbprint } from "./x509.js";

/** The vault version and leaf thumbprint a Secret carries (either may be unknown). */
export interface Carried {
  version?: string;
  thumbprint?: string;
}

/** Who made the Secret named like a backup: nobody (absent), someone else, or this control plane. */
export type BackupOwner = { kind: "none" } | { kind: "foreign" } | { kind: "ours"; rotationId?: string };

/** What was read of the Secret to write. */
export interface ObservedSecret {
  /** What it carries now (`tls.crt`'s leaf decides; annotations only while they agree). */
  carried: Carried;
  /** The rotation run named by its rotation annotation: the run whose write it carries. */
  writtenBy?: string;
  resourceVersion?: string;
}

/** What was read of the Secret named like the backup. */
export interface ObservedBackup {
  owner: BackupOwner;
  /** What the backup holds (the state before the run that made it). */
  carried: Carried;
}

/** Everything {@link planSecretWrite} looks at. */
export interface SecretWriteFacts {
  /** The rotation run writing. */
  rotationId: string;
  /** The version to write, and its leaf's thumbprint when known. */
  target: { version: string; thumbprint?: string };
  /** The Secret; undefined when it does not exist. */
  secret?: ObservedSecret;
  /** The backup; read only when the Secret exists (undefined otherwise). */
  backup?: ObservedBackup;
  /** Where: the Secret's namespace and name, and the name of its backup Secret. */
  names: { namespace: string; secret: string; backup: string };
}

/** The snapshot of the state before the write, without the resourceVersion the write will give. */
export type SnapshotBeforeWrite = Omit<KubernetesSecretSnapshot, "resourceVersionAfterWrite">;

/** What to do about one Secret write. */
export type SecretWritePlan =
  /** The Secret named like the backup is not ours: write nothing. */
  | ({ action: "refuse"; write: "notApplied" | "unknown" } & Reasoned)
  /** This run's write landed already (a retry): answer with this snapshot, write nothing. */
  | { action: "alreadyApplied"; snapshot: KubernetesSecretSnapshot }
  /**
   * Write. `backup`: copy the Secret as it is into a new backup (`create`), over an old backup of ours
   * (`replace`), keep this run's backup (`keep`), or none (the Secret does not exist: `none`).
   * `secret`: replace the existing Secret or create it.
   */
  | {
      action: "write";
      backup: "create" | "replace" | "keep" | "none";
      secret: "replace" | "create";
      snapshot: SnapshotBeforeWrite;
    };

const carriedFields = (
  c: Carried,
): Pick<KubernetesSecretSnapshot, "previousVersion" | "previousThumbprint"> => ({
  ...(c.version ? { previousVersion: c.version } : {}),
  ...(c.thumbprint ? { previousThumbprint: c.thumbprint } : {}),
});

/** Whether the Secret already carries the target version, written by this run. */
function carriesOurWrite(facts: SecretWriteFacts): boolean {
  const { secret, target } = facts;
  if (!secret || secret.writtenBy !== facts.rotationId || secret.carried.version !== target.version)
    return false;
  return !target.thumbprint || secret.carried.thumbprint === normaliseThumbprint(target.thumbprint);
}

/** Decides one Secret write. Pure. */
export function planSecretWrite(facts: SecretWriteFacts): SecretWritePlan {
  const { secret, backup, rotationId, names } = facts;
  const at = (name: string) => `${names.namespace}/${name}`;
  const owner: BackupOwner = backup?.owner ?? { kind: "none" };
  // The backup is this run's snapshot only when this run made it.
  const backupOfThisRun = owner.kind === "ours" && owner.rotationId === rotationId;
  const ourWriteLanded = secret?.writtenBy === rotationId;

  // 1. Only ever a backup we made is overwritten: a foreign Secret of that name stops the write.
  if (owner.kind === "foreign") {
    return {
      action: "refuse",
      write: ourWriteLanded ? "unknown" : "notApplied",
      reason: "BackupNameTaken",
      message: `Secret ${at(names.backup)} exists and is not a backup this control plane made, so it was left alone and Secret ${at(names.secret)} was not ${ourWriteLanded ? "confirmed" : "written"}; rename or remove it so the previous certificate can be kept for rollback.`,
    };
  }

  // 2. Already written by this run (a retry): the snapshot is in this run's backup. A Secret that
  // existed always gets that backup before our write, so without one the write created the Secret
  // (a backup of another run is stale and says nothing about this one).
  if (carriesOurWrite(facts)) {
    return {
      action: "alreadyApplied",
      snapshot: {
        kind: "kubernetesSecret",
        existed: backupOfThisRun,
        ...carriedFields(backupOfThisRun && backup ? backup.carried : {}),
        ...(backupOfThisRun ? { backupSecretName: names.backup } : {}),
        ...(secret?.resourceVersion ? { resourceVersionAfterWrite: secret.resourceVersion } : {}),
      },
    };
  }

  // 3. No Secret: create it; there is nothing to back up.
  if (!secret) {
    return {
      action: "write",
      backup: "none",
      secret: "create",
      snapshot: { kind: "kubernetesSecret", existed: false },
    };
  }

  // 4. Our write landed but the Secret was changed since (e.g. tls.crt replaced by hand): this run's
  // backup still holds the state before the run and is kept. Otherwise the backup is (re)made from
  // the Secret as it is: created, or replaced when it is ours from another run or from an attempt
  // whose write failed.
  const keep = backupOfThisRun && ourWriteLanded;
  const before = keep && backup ? backup.carried : secret.carried;
  return {
    action: "write",
    backup: keep ? "keep" : owner.kind === "ours" ? "replace" : "create",
    secret: "replace",
    snapshot: {
      kind: "kubernetesSecret",
      existed: true,
      ...carriedFields(before),
      backupSecretName: names.backup,
    },
  };
}

/** Everything {@link planSecretRestore} looks at. */
export interface SecretRestoreFacts {
  action: Pick<KubernetesRollbackAction, "restore" | "expectedResourceVersion">;
  /** The rotation run rolling back. */
  rotationId: string;
  /** The Secret now; undefined when it does not exist. */
  secret?: ObservedSecret & {
    /** The vault certificate its binding annotation names (`vault/certificate`), when it names one. */
    certificate?: { vaultName: string; certificateName: string };
  };
  /** The backup named by a `backupSecret` restore; undefined when absent or not read. */
  backup?: ObservedBackup;
  /** The vault URL of an allowed vault by name, or undefined. */
  vaultUrl: (vaultName: string) => string | undefined;
  /** How to name things in messages: `namespace/name` of the Secret and of the backup to restore from. */
  names: { secret: string; backup?: string };
}

/** The annotation value of a restore, naming the run that rolled back. */
export const rollbackMarker = (rotationId: string): string => `${rotationId}:rollback`;

/** What to do to roll one Secret back. */
export type SecretRestorePlan =
  | ({ action: "refuse" } & Reasoned)
  /** A previous attempt of this rollback restored it already. */
  | { action: "alreadyRestored" }
  /** The Secret did not exist before our write: delete it. */
  | { action: "delete" }
  /** Put the backup's data keys back; it carried `carried`. */
  | { action: "restoreFromBackup"; carried: Carried }
  /** Rebuild the data from a vault version of the certificate the Secret names. */
  | {
      action: "restoreFromVault";
      vaultUrl: string;
      certificateName: string;
      version: string;
    };

const modified = (where: string): SecretRestorePlan => ({
  action: "refuse",
  reason: "ModifiedSinceWrite",
  message: `Secret ${where} was changed by someone else after our write; it was left alone.`,
});

/** Whether the Secret changed since our write (its resourceVersion is no longer ours). */
const changedSinceWrite = (facts: SecretRestoreFacts): boolean =>
  !!facts.action.expectedResourceVersion &&
  facts.secret?.resourceVersion !== facts.action.expectedResourceVersion;

/** Decides how to roll one Secret back. Pure. */
export function planSecretRestore(facts: SecretRestoreFacts): SecretRestorePlan {
  const { action, secret, names } = facts;
  const restore = action.restore;
  if (restore.from === "delete") {
    return secret && changedSinceWrite(facts) ? modified(names.secret) : { action: "delete" };
  }
  if (!secret)
    return { action: "refuse", reason: "SecretMissing", message: `Secret ${names.secret} no longer exists.` };
  if (changedSinceWrite(facts)) {
    return secret.writtenBy === rollbackMarker(facts.rotationId)
      ? { action: "alreadyRestored" }
      : modified(names.secret);
  }
  if (restore.from === "backupSecret") return fromBackup(facts, restore.secretName);
  const vaultUrl = secret.certificate ? facts.vaultUrl(secret.certificate.vaultName) : undefined;
  if (!vaultUrl || !secret.certificate) {
    return {
      action: "refuse",
      reason: "PreviousVersionUnknown",
      message: `Secret ${names.secret} names no allowed vault certificate.`,
    };
  }
  return {
    action: "restoreFromVault",
    vaultUrl,
    certificateName: secret.certificate.certificateName,
    version: restore.version,
  };
}

/** Restoring from a backup: only a backup this run made holds the state before it. */
function fromBackup(facts: SecretRestoreFacts, backupName: string): SecretRestorePlan {
  const { backup, names } = facts;
  const shown = names.backup ?? backupName;
  if (!backup || backup.owner.kind === "none")
    return { action: "refuse", reason: "BackupMissing", message: `The backup Secret ${shown} is gone.` };
  const owner = backup.owner;
  if (owner.kind === "ours" && owner.rotationId === facts.rotationId)
    return { action: "restoreFromBackup", carried: backup.carried };
  return {
    action: "refuse",
    reason: owner.kind === "ours" ? "BackupFromAnotherRotation" : "BackupNotOurs",
    message: `The Secret ${shown} is ${owner.kind === "ours" ? `a backup made by another rotation run (${owner.rotationId ?? "unnamed"})` : "not a backup this control plane made"}, so Secret ${names.secret} was not restored from it.`,
  };
}

/** The PEM certificate blocks of a bundle, each normalised (one body line, no blank lines). */
const certificateBlocks = (pem: string | undefined): string[] =>
  [...(pem ?? "").matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map(
    (m) => `-----BEGIN CERTIFICATE-----\n${m[1]!.replace(/\s+/g, "")}\n-----END CERTIFICATE-----`,
  );

/**
 * The `ca.crt` written during a client-CA change: the new CA chain first, then every CA the Secret
 * trusts now that the new chain does not hold. The ingress keeps trusting the client certificate
 * APIM still presents until APIM's own stage has switched it (Kubernetes is written first); the old
 * CAs are pruned after the rollout succeeded. Rollback restores the backup (the old bundle only),
 * and runs in reverse stage order: APIM is back on the old client certificate before the ingress
 * stops trusting the new CA. Pure.
 */
export function mergeCaBundle(next: string, current: string | undefined): string {
  const blocks = certificateBlocks(next);
  const seen = new Set(blocks);
  for (const b of certificateBlocks(current)) {
    if (!seen.has(b)) {
      seen.add(b);
      blocks.push(b);
    }
  }
  return blocks.length ? blocks.join("\n") + "\n" : next;
}
