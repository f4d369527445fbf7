/**
 * The lab's state documents: written atomically, not rewritten when a save changes nothing, and written
 * behind the saves (batched) until the lab stops.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StateStore } from "../../../emulator/lab/core/store.js";

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "lab-state-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const read = (file: string) => JSON.parse(readFileSync(file, "utf8")) as unknown;

test("a save of an unchanged document leaves the file alone; a change replaces it; a new store loads it", (t) => {
  const dir = tempDir(t);
  const file = join(dir, "arm.json");
  const store = new StateStore(dir, { writeDelayMs: 0 });
  assert.equal(store.has("arm"), false);
  store.save("arm", { n: 1, items: ["a"] });
  // Each write goes to a new file renamed over the old one: a new inode says the file was written.
  const written = statSync(file).ino;
  store.save("arm", { n: 1, items: ["a"] });
  assert.equal(statSync(file).ino, written, "an unchanged document is not written again");
  store.save("arm", { n: 2, items: ["a", "b"] });
  assert.notEqual(statSync(file).ino, written, "a changed document is written");
  assert.deepEqual(read(file), { n: 2, items: ["a", "b"] });

  const again = new StateStore(dir, { writeDelayMs: 0 });
  assert.equal(again.has("arm"), true);
  const loaded = again.load("arm", () => ({ n: 0, items: [] as string[] }));
  assert.deepEqual(loaded, { n: 2, items: ["a", "b"] });
  const before = statSync(file).ino;
  again.save("arm", loaded);
  assert.equal(statSync(file).ino, before, "saving what was loaded writes nothing");
  loaded.items.push("c");
  again.save("arm", loaded);
  assert.deepEqual(read(file), { n: 2, items: ["a", "b", "c"] });
});

test("saves are written behind: many saves of a live state make one write of its latest value", async (t) => {
  const dir = tempDir(t);
  const file = join(dir, "kubernetes.json");
  const store = new StateStore(dir, { writeDelayMs: 60_000 });
  const state = { resourceVersion: 0 };
  for (let i = 0; i < 5; i++) {
    state.resourceVersion++;
    store.save("kubernetes", state);
  }
  assert.equal(existsSync(file), false, "nothing written before the delay or a flush");
  assert.equal(store.has("kubernetes"), true, "a saved document exists for the store already");
  // load() flushes first, so a service reading a document sees what was saved.
  assert.deepEqual(
    store.load("kubernetes", () => ({ resourceVersion: -1 })),
    { resourceVersion: 5 },
  );
  state.resourceVersion = 6;
  store.save("kubernetes", state);
  store.close();
  assert.deepEqual(read(file), { resourceVersion: 6 }, "close() writes what is pending");
  state.resourceVersion = 7;
  store.save("kubernetes", state);
  assert.deepEqual(read(file), { resourceVersion: 7 }, "after close() a save writes at once");

  // With a short delay the write happens by itself.
  const quick = new StateStore(dir, { writeDelayMs: 5 });
  quick.save("clock", { offsetMs: 42 });
  const deadline = Date.now() + 5_000;
  while (!existsSync(join(dir, "clock.json")) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(read(join(dir, "clock.json")), { offsetMs: 42 });
});
