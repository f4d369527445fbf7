/**
 * One TLS secure context per set of trusted roots. Passing `ca` to every connection makes Node parse
 * every root again (about 145 PEM certificates: most of a probe's CPU); the composition hands out
 * one roots array, so its context is built once and shared by every handshake and request.
 */
import tls from "node:tls";

const contexts = new WeakMap<readonly string[], tls.SecureContext>();

/** The secure context trusting exactly `roots` (PEM), built once per array. */
export function secureContextFor(roots: readonly string[]): tls.SecureContext {
  let context = contexts.get(roots);
  if (!context) {
    context = tls.createSecureContext({ ca: [...roots] });
    contexts.set(roots, context);
  }
  return context;
}
