/**
 * The real kubectl against the lab API server with the lab kubeconfig: get, apply --server-side and its
 * conflicts, patch (merge, json, strategic), rollout restart + status, 401 with a bad token, and the
 * oldest and newest kubectl minors on the machine.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestLab, type TestLab } from "../../support/lab.js";

const KUBECTL = process.env.KUBECTL ?? "kubectl";
/** Version-pinned kubectl binaries (Google Cloud SDK layout); missing ones are skipped. */
const PINNED = ["1.27", "1.33"].map((v) => ({ v, path: `/usr/lib/google-cloud-sdk/bin/kubectl.${v}` }));

let lab: TestLab;
let kubeconfig: string;

before(async () => {
  lab = await startTestLab();
  kubeconfig = lab.endpoints.kubeconfig as string;
});
after(() => lab?.dispose());

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function kubectl(args: string[], bin = KUBECTL): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      bin,
      ["--kubeconfig", kubeconfig, ...args],
      { env: { PATH: process.env.PATH ?? "", HOME: lab.stateDir }, timeout: 60_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

async function ok(args: string[], bin?: string): Promise<string> {
  const r = await kubectl(args, bin);
  assert.equal(r.code, 0, `kubectl ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

function manifest(name: string, yaml: string): string {
  const file = join(lab.stateDir, `${name}.yaml`);
  writeFileSync(file, yaml);
  return file;
}

const secretYaml = (name: string, value: string) => `apiVersion: v1
kind: Secret
metadata:
  name: ${name}
  namespace: api
  labels:
    app: demo
stringData:
  key: ${value}
`;

test("kubectl get lists the seeded Secrets with the server's columns", async () => {
  const out = await ok(["get", "secrets", "-n", "api"]);
  assert.match(out, /^NAME\s+TYPE\s+DATA\s+AGE/m);
  assert.match(out, /^backend-tls\s+kubernetes\.io\/tls\s+2\s/m);
  assert.match(out, /^apim-client-ca\s+Opaque\s+1\s/m);
  const json = JSON.parse(await ok(["get", "ingress", "backend", "-n", "api", "-o", "json"])) as {
    spec: { tls: Array<{ secretName: string }> };
  };
  assert.equal(json.spec.tls[0]?.secretName, "backend-tls");
});

test("kubectl apply --server-side, a conflict without --force-conflicts, then forced", async () => {
  const file = manifest("demo", secretYaml("demo", "one"));
  assert.match(await ok(["apply", "--server-side", "-f", file]), /secret\/demo serverside-applied/);
  await ok([
    "patch",
    "secret",
    "demo",
    "-n",
    "api",
    "--type",
    "merge",
    "-p",
    '{"stringData":{"key":"hand"}}',
  ]);
  const conflict = await kubectl(["apply", "--server-side", "-f", file]);
  assert.notEqual(conflict.code, 0);
  assert.match(
    conflict.stderr,
    /Apply failed with 1 conflict: conflict with "kubectl-patch" using v1: \.data\.key/,
  );
  await ok(["apply", "--server-side", "--force-conflicts", "-f", file]);
  const value = await ok(["get", "secret", "demo", "-n", "api", "-o", "jsonpath={.data.key}"]);
  assert.equal(Buffer.from(value, "base64").toString(), "one");
  const dry = await ok([
    "apply",
    "--server-side",
    "--dry-run=server",
    "-f",
    manifest("dry", secretYaml("demo", "dry")),
  ]);
  assert.match(dry, /server dry run/);
  const after = await ok(["get", "secret", "demo", "-n", "api", "-o", "jsonpath={.data.key}"]);
  assert.equal(Buffer.from(after, "base64").toString(), "one");
});

test("kubectl patch --type merge, json and strategic", async () => {
  await ok(["create", "secret", "generic", "p", "-n", "api", "--from-literal=a=1"]);
  await ok([
    "patch",
    "secret",
    "p",
    "-n",
    "api",
    "--type",
    "merge",
    "-p",
    '{"metadata":{"labels":{"m":"1"}}}',
  ]);
  await ok([
    "patch",
    "secret",
    "p",
    "-n",
    "api",
    "--type",
    "json",
    "-p",
    '[{"op":"add","path":"/data/b","value":"Mg=="}]',
  ]);
  await ok([
    "patch",
    "secret",
    "p",
    "-n",
    "api",
    "--type",
    "strategic",
    "-p",
    '{"metadata":{"annotations":{"s":"1"}}}',
  ]);
  const obj = JSON.parse(await ok(["get", "secret", "p", "-n", "api", "-o", "json"])) as {
    data: Record<string, string>;
    metadata: { labels: Record<string, string>; annotations: Record<string, string> };
  };
  assert.deepEqual(obj.data, { a: "MQ==", b: "Mg==" });
  assert.equal(obj.metadata.labels.m, "1");
  assert.equal(obj.metadata.annotations.s, "1");
  await ok([
    "patch",
    "deployment",
    "backend",
    "-n",
    "api",
    "--type",
    "strategic",
    "-p",
    '{"spec":{"template":{"spec":{"containers":[{"name":"backend","image":"backend:v9"}]}}}}',
  ]);
  const images = await ok([
    "get",
    "deploy",
    "backend",
    "-n",
    "api",
    "-o",
    "jsonpath={.spec.template.spec.containers[*].image}",
  ]);
  assert.equal(images, "backend:v9");
});

test("kubectl rollout restart, then rollout status completes", async () => {
  const before = Number(
    await ok(["get", "deploy", "backend", "-n", "api", "-o", "jsonpath={.metadata.generation}"]),
  );
  assert.match(await ok(["rollout", "restart", "deployment/backend", "-n", "api"]), /restarted/);
  assert.match(
    await ok(["rollout", "status", "deployment/backend", "-n", "api", "--timeout=30s"]),
    /successfully rolled out/,
  );
  const out = await ok([
    "get",
    "deploy",
    "backend",
    "-n",
    "api",
    "-o",
    "jsonpath={.metadata.generation} {.status.observedGeneration} {.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}",
  ]);
  const [generation, observed, restartedAt] = out.split(" ");
  assert.equal(Number(generation), before + 1);
  assert.equal(observed, generation);
  assert.ok(restartedAt && !Number.isNaN(Date.parse(restartedAt)));
});

test("kubectl with the static lab token works; a wrong token is refused: Unauthorized", async () => {
  const { staticToken } = lab.endpoints.kubernetes as { staticToken: string };
  assert.match(await ok(["get", "namespaces", "--token", staticToken]), /^ops\s+Active/m);
  const r = await kubectl(["get", "secrets", "-n", "api", "--token", "wrong"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Unauthorized|must be logged in/);
});

for (const { v, path } of PINNED) {
  test(
    `kubectl ${v}: get, apply --server-side, patch`,
    { skip: !existsSync(path) && `${path} missing` },
    async () => {
      const name = `v${v.replace(".", "-")}`;
      await ok(["get", "secrets", "-n", "api"], path);
      const file = manifest(name, secretYaml(name, "x"));
      assert.match(await ok(["apply", "--server-side", "-f", file], path), /serverside-applied/);
      await ok(
        ["patch", "secret", name, "-n", "api", "--type", "merge", "-p", '{"stringData":{"key":"y"}}'],
        path,
      );
      const conflict = await kubectl(["apply", "--server-side", "-f", file], path);
      assert.match(conflict.stderr, /conflict with "kubectl-patch"/);
    },
  );
}
