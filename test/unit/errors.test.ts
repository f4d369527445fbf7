import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ConfigurationError,
  RetriableError,
  ValidationError,
  isConfigurationError,
  isRetriableError,
  isValidationError,
} from "../../src/errors.js";

test("each guard recognises its own class and no other", () => {
  const errors = [
    new RetriableError("busy", 5),
    new ValidationError("bad", "vault"),
    new ConfigurationError("x", "S"),
  ];
  const guards = [isRetriableError, isValidationError, isConfigurationError];
  guards.forEach((guard, i) =>
    errors.forEach((e, j) => assert.equal(guard(e), i === j, `${guard.name}(${e.name})`)),
  );
  assert.equal(isRetriableError(new Error("plain")), false);
});

test("a retriable error keeps the delay the service asked for", () => {
  const e = new RetriableError("APIM service is busy", 30);
  assert.equal(e.retryAfterSeconds, 30);
  assert.equal(e.name, "RetriableError");
});
