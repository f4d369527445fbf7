// Orchestrations the host benchmark runs: a sequential chain of activities and a fan-out/fan-in.
import * as df from "durable-functions";

const step = df.app.activity("benchStep", { handler: async (n) => n + 1 });

df.app.orchestration("benchChain", function* (context) {
  const steps = context.df.getInput()?.steps ?? 5;
  let value = 0;
  for (let i = 0; i < steps; i++) value = yield step(value);
  return value;
});

df.app.orchestration("benchFanOut", function* (context) {
  const count = context.df.getInput()?.count ?? 100;
  const results = yield context.df.Task.all(Array.from({ length: count }, (_, i) => step(i)));
  return results.length;
});
