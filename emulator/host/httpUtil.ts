/** Small helpers for the host's own HTTP answers. */
import type { IncomingMessage, ServerResponse } from "node:http";

/** The largest request body the host accepts (the Functions host's default limit is 100 MB). */
export const maxBodyBytes = 100 * 1024 * 1024;

/** Thrown when a request body is larger than {@link maxBodyBytes}. */
export class BodyTooLargeError extends Error {
  constructor() {
    super(`The request body is larger than ${maxBodyBytes} bytes.`);
    this.name = "BodyTooLargeError";
  }
}

/** Reads the whole request body. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > maxBodyBytes) throw new BodyTooLargeError();
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** Answers with a JSON body. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": text.length,
    ...headers,
  });
  res.end(text);
}

/** Answers with a plain-text body (or none when `text` is empty). */
export function sendText(
  res: ServerResponse,
  status: number,
  text = "",
  headers: Record<string, string> = {},
): void {
  const body = Buffer.from(text);
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": body.length,
    ...headers,
  });
  res.end(body);
}

/** The first value of a request header. */
export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
