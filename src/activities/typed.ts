/**
 * Typed callables for activities. `df.app.activity(...)` returns `(input?: unknown) => Task`; each
 * activity file narrows that to `TypedActivity<Input, Output>` so an orchestrator passes the right
 * input and can name the output type: `const r = (yield readCertificate(input)) as ActivityOutput<typeof readCertificate>`.
 */
import type { RegisteredActivityTask } from "durable-functions";

/** A registered activity whose input and output types are known. */
export type TypedActivity<TInput, TOutput> = (input: TInput) => RegisteredActivityTask & {
  /** Phantom: carries the output type; never set at run time. */
  readonly __output?: TOutput;
};

/** The output type of a typed activity. */
export type ActivityOutput<A> = A extends (input: never) => { readonly __output?: infer O } ? O : never;

/** The input type of a typed activity. */
export type ActivityInput<A> = A extends (input: infer I) => unknown ? I : never;
