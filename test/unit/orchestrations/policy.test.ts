/**
 * The rollout policy derived from configuration: waiting for another rollout's lease on an APIM
 * service allows for a queue of updates, not just one busy answer.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "../../../src/config.js";
import { rolloutPolicyFrom } from "../../../src/orchestrations/policy.js";

const base = {
  ALLOWED_VAULT_URLS: "https://kv-contoso.vault.azure.net",
  AzureWebJobsStorage: "UseDevelopmentStorage=true",
  OUTCOME_TOPIC_ENDPOINT: "https://outcomes.westeurope-1.eventgrid.azure.net/api/events",
};

describe("rollout policy", () => {
  it("waits for a held lease far longer than for one busy answer (a queue of APIM updates)", () => {
    const policy = rolloutPolicyFrom(loadConfig({ ...base, PROBE_DEADLINE_APIM_SECONDS: "3600" }));
    assert.equal(policy.busyDeadlineSeconds, 3600);
    assert.equal(policy.lockWaitDeadlineSeconds, 86400);
  });

  it("never waits for a lease less long than for a busy target", () => {
    const policy = rolloutPolicyFrom(loadConfig({ ...base, PROBE_DEADLINE_APIM_SECONDS: "172800" }));
    assert.equal(policy.lockWaitDeadlineSeconds, 172800);
  });
});
