import { test } from "node:test";
import assert from "node:assert/strict";
import { at, identifiers, parseBicep, text, tokenize } from "../../support/bicep.js";

test("comment markers inside strings are text, comments outside strings vanish", () => {
  const tokens = tokenize(
    "var a = 'https://x/*y*/' // gone\n/* gone\n too */ var b = 'it\\'s' // 'gone'\n#disable-next-line BCP081\nvar c = 1",
  );
  const strings = tokens.filter((t) => t.kind === "string").map((t) => t.value);
  assert.deepEqual(strings, ["https://x/*y*/", "it\\'s"]);
  assert.ok(!tokens.some((t) => t.value === "gone" || t.value === "BCP081"));
});

test("interpolations with nested strings and multi-line strings stay one token", () => {
  const tokens = tokenize("var a = '${join(x, '}')}-${y}'\nvar b = '''\nline 1 // not a comment\n'''\n");
  const strings = tokens.filter((t) => t.kind === "string").map((t) => t.value);
  assert.deepEqual(strings, ["${join(x, '}')}-${y}", "\nline 1 // not a comment\n"]);
});

test("declarations, decorators, conditions and loops are read into their parts", () => {
  const file = parseBicep(
    "x.bicep",
    [
      "@description('the names')",
      "@allowed(['a', 'b'])",
      "param names array = ['a']",
      "var role = '4633458b-17de-408a-b874-0445c86b69e6'",
      "resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {",
      "  name: 'kv'",
      "}",
      "resource grants 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (n, i) in names: if (i > 0) {",
      "  name: guid(n)",
      "  scope: vault",
      "  properties: {",
      "    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)",
      "    'quoted-key': { nested: [1, 2], other: true }",
      "  }",
      "}]",
      "output ids array = [for n in names: n]",
    ].join("\n"),
  );
  assert.equal(file.params.get("names")?.type, "array");
  assert.equal(text(file.vars.get("role")), "'4633458b-17de-408a-b874-0445c86b69e6'");
  const [vault, grants] = file.resources;
  assert.equal(vault?.existing, true);
  assert.equal(grants?.type, "Microsoft.Authorization/roleAssignments");
  assert.equal(grants?.apiVersion, "2022-04-01");
  assert.equal(text({ kind: "expr", tokens: grants.condition! }), "i > 0");
  assert.ok(identifiers(grants.loop).has("names"));
  assert.equal(text(at(grants.body, "scope")), "vault");
  assert.ok(identifiers(at(grants.body, "properties.roleDefinitionId")).has("role"));
  assert.equal(text(at(grants.body, "properties.quoted-key.nested")), "[1, 2]");
  assert.equal(file.outputs.get("ids")?.kind, "for");
});
