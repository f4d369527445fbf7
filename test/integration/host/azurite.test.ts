import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { TableClient } from "@azure/data-tables";
import { QueueClient } from "@azure/storage-queue";
import { ensureAzurite, type AzuriteHandle } from "../../../emulator/host/azurite.js";

test("an ephemeral Azurite serves tables and queues and keeps its data across a restart", async () => {
  const location = mkdtempSync(join(tmpdir(), "azurite-test-"));
  let first: AzuriteHandle | undefined;
  try {
    first = await ensureAzurite({ location, ports: "ephemeral" });
    assert.equal(first.started, true);
    assert.equal(first.storageSetting, first.connectionString);
    const table = TableClient.fromConnectionString(first.connectionString, "hostprobe", {
      allowInsecureConnection: true,
    });
    await table.createTable();
    await table.upsertEntity({ partitionKey: "p", rowKey: "r", value: 41 });
    const queue = new QueueClient(first.connectionString, "hostprobe");
    await queue.createIfNotExists();
    await queue.sendMessage("hello");
    await first.stop();
    first = undefined;

    const second = await ensureAzurite({ location, ports: "ephemeral" });
    try {
      const again = TableClient.fromConnectionString(second.connectionString, "hostprobe", {
        allowInsecureConnection: true,
      });
      assert.equal((await again.getEntity<{ value: number }>("p", "r")).value, 41);
      const peeked = await new QueueClient(second.connectionString, "hostprobe").peekMessages();
      assert.equal(peeked.peekedMessageItems[0]?.messageText, "hello");
    } finally {
      await second.stop();
    }
  } finally {
    // The first emulator is still running when an assertion before its restart failed.
    await first?.stop();
    rmSync(location, { recursive: true, force: true });
  }
});
