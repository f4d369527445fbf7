import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { test } from "node:test";
import { assertNoPrivateKey, findPrivateKeyLeaks } from "../../support/secretScan.js";

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
const other = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
const pem = rsa.export({ format: "pem", type: "pkcs8" }).toString();
const pkcs1Pem = rsa.export({ format: "pem", type: "pkcs1" }).toString();
const der = rsa.export({ format: "der", type: "pkcs8" });

const cases: { name: string; text: string; form?: string }[] = [
  { name: "a PEM key in a log line is found", text: `log: ${pem}`, form: "der-base64" },
  {
    name: "a PEM key JSON-escaped in history is found",
    text: JSON.stringify({ input: pem }),
    form: "der-base64",
  },
  { name: "a PKCS#1 PEM of the same key is found", text: pkcs1Pem, form: "der-base64" },
  { name: "DER as base64 is found", text: `{"v":"${der.toString("base64")}"}`, form: "der-base64" },
  { name: "DER as base64url is found", text: der.toString("base64url"), form: "der-base64url" },
  { name: "DER as upper-case hex is found", text: der.toString("hex").toUpperCase(), form: "der-hex" },
  {
    name: "a fragment of the private exponent is found",
    text: der.toString("base64").slice(420, 480),
    form: "der-base64",
  },
  {
    name: "the JWK private exponent is found",
    text: JSON.stringify(rsa.export({ format: "jwk" })),
    form: "jwk",
  },
];

for (const c of cases) {
  test(c.name, () => {
    const leaks = findPrivateKeyLeaks(c.text, rsa);
    assert.ok(leaks.length > 0, "expected a leak");
    assert.ok(
      leaks.some((l) => l.form === c.form),
      `expected form ${c.form}, got ${JSON.stringify(leaks)}`,
    );
    assert.throws(() => assertNoPrivateKey(c.text, pem, "the text"), /contains the private key/);
  });
}

test("text with another key, a certificate-like blob or nothing secret has no leak", () => {
  const otherPem = other.export({ format: "pem", type: "pkcs8" }).toString();
  const text = `${otherPem}\n${JSON.stringify({ thumbprint: "AB".repeat(20), version: "0123456789abcdef" })}`;
  assert.deepEqual(findPrivateKeyLeaks(text, rsa), []);
  assert.doesNotThrow(() => assertNoPrivateKey(text, rsa, "the text"));
});

test("the public modulus alone (as in the certificate) is not a leak", () => {
  const modulus = Buffer.from(rsa.export({ format: "jwk" }).n as string, "base64url");
  assert.deepEqual(findPrivateKeyLeaks(modulus.toString("base64") + modulus.toString("hex"), rsa), []);
});

test("an EC key is found in its SEC1 and PKCS#8 forms", () => {
  const sec1 = ec.export({ format: "pem", type: "sec1" }).toString();
  assert.ok(findPrivateKeyLeaks(sec1, ec).some((l) => l.encoding === "sec1"));
  const pkcs8 = ec.export({ format: "der", type: "pkcs8" }).toString("hex");
  assert.ok(findPrivateKeyLeaks(pkcs8, ec).some((l) => l.form === "der-hex" && l.encoding === "pkcs8"));
});

test("the error names the form and place, never the key", () => {
  assert.throws(
    () => assertNoPrivateKey(pem, rsa, "history"),
    (e: Error) => {
      assert.match(e.message, /^history contains the private key: der-base64\/pkcs8 at \d+/);
      assert.deepEqual(findPrivateKeyLeaks(e.message, rsa), []);
      return true;
    },
  );
});
