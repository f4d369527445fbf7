/**
 * Preload (`node --import`) that resolves `*.localhost` to 127.0.0.1 inside Node, as RFC 6761 says
 * it should and as browsers and curl already do; glibc does not. It lets lab Key Vault host names such
 * as `kv-contoso.vault.localhost` work with the SDK's challenge-resource verification left on. It
 * changes nothing for other names, and production code never loads it.
 */
import dns from "node:dns";

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | dns.LookupAddress[],
  family?: number,
) => void;

const isLocalhostName = (host: unknown): host is string =>
  typeof host === "string" && /(^|\.)localhost\.?$/i.test(host);

const originalLookup = dns.lookup;
const patched = function lookup(hostname: string, options: unknown, callback?: unknown): void {
  const cb = (typeof options === "function" ? options : callback) as LookupCallback;
  const opts = (
    typeof options === "object" && options !== null
      ? options
      : typeof options === "number"
        ? { family: options }
        : {}
  ) as dns.LookupOptions;
  if (!isLocalhostName(hostname) || hostname.toLowerCase() === "localhost") {
    return (originalLookup as unknown as (...a: unknown[]) => void)(hostname, options, callback);
  }
  const family = opts.family === 6 || opts.family === "IPv6" ? 6 : 4;
  const address = family === 6 ? "::1" : "127.0.0.1";
  process.nextTick(() => (opts.all ? cb(null, [{ address, family }]) : cb(null, address, family)));
};
(dns as { lookup: unknown }).lookup = patched;

const originalPromiseLookup = dns.promises.lookup;
(dns.promises as { lookup: unknown }).lookup = async (hostname: string, options?: dns.LookupOptions) => {
  if (!isLocalhostName(hostname) || hostname.toLowerCase() === "localhost")
    return originalPromiseLookup(hostname, options ?? {});
  const family = options?.family === 6 ? 6 : 4;
  const address = family === 6 ? "::1" : "127.0.0.1";
  return options?.all ? [{ address, family }] : { address, family };
};
