/**
 * The HTTP answers of our functions: JSON bodies, and problems as `{ error: { code, message, field? } }`.
 */
import type { HttpResponseInit } from "@azure/functions";

/** A JSON answer. */
export const json = (
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): HttpResponseInit => ({
  status,
  jsonBody: body,
  headers: { "content-type": "application/json; charset=utf-8", ...headers },
});

/** A problem: a machine code, a sentence, and the request field at fault when there is one. */
export const problem = (status: number, code: string, message: string, field?: string): HttpResponseInit =>
  json(status, { error: { code, message, ...(field ? { field } : {}) } });

/** A plain-text answer (200). */
export const plainText = (body: string): HttpResponseInit => ({
  status: 200,
  body,
  headers: { "content-type": "text/plain; charset=utf-8" },
});

/** Whether the request asks for plain text rather than JSON. */
export const wantsPlainText = (accept: string | null): boolean => (accept ?? "").includes("text/plain");
