/**
 * What a hop has been given to serve per host name over time, and the choice of what it serves at a
 * given moment: the newest certificate whose deployment is older than the hop's propagation delay,
 * bent by the certificate faults.
 *
 * Faults (service "edge"; operation `"<hop> <host>"`):
 * - `neverPropagate`: the hop never picks up a certificate deployed after the fault was set; it keeps
 *   serving what was deployed before (for Front Door: one edge location that never gets the new one).
 * - `staleCertificate`: the hop serves the certificate deployed before the current one.
 * - `wrongCertificate`: the hop serves a certificate for another name (`wrong.contoso.test`, issued by
 *   the lab CA), so clients fail the name check.
 */
import type { FaultRegistry } from "../core/faults.js";
import type { LabClock } from "../core/clock.js";
import { prepare, type PreparedCertificate } from "./certs.js";
import { EDGE_SERVICE } from "./tlsHop.js";
import type { ServedCertificate } from "./view.js";

interface Entry {
  certificate: PreparedCertificate;
  /** Lab-clock ms at which the deployment finished. */
  at: number;
  seq: number;
}

const HISTORY = 8;

export class CertificateTimeline {
  private readonly hosts = new Map<string, Entry[]>();
  private seq = 0;
  /** Sequence number at which each `neverPropagate` rule was first seen. */
  private readonly frozenAt = new Map<string, number>();

  constructor(
    private readonly clock: LabClock,
    private readonly faults: FaultRegistry,
    private readonly wrong: () => PreparedCertificate | undefined,
    private readonly log: (message: string) => void = () => {},
  ) {}

  /** Records newly set `neverPropagate` rules; call before `update` on every refresh. */
  noteFaults(): void {
    for (const rule of this.faults.list()) {
      if (rule.service === EDGE_SERVICE && rule.kind === "neverPropagate" && !this.frozenAt.has(rule.id)) {
        this.frozenAt.set(rule.id, this.seq);
      }
    }
  }

  /**
   * Sets what is deployed for `host` now. A different leaf than the last one starts a new entry
   * effective at `deployedAt` (default: now; `initial` entries count as long propagated).
   */
  update(
    host: string,
    served: ServedCertificate | undefined,
    options: { deployedAt?: Date; initial?: boolean },
  ): void {
    const key = host.toLowerCase();
    if (!served) {
      this.hosts.delete(key);
      return;
    }
    let certificate: PreparedCertificate;
    try {
      certificate = prepare(served);
    } catch (error) {
      this.log(`edge: ${(error as Error).message}`);
      return;
    }
    const entries = this.hosts.get(key) ?? [];
    const last = entries.at(-1);
    if (last && last.certificate.facts.sha256 === certificate.facts.sha256) return;
    const at = options.initial
      ? Number.NEGATIVE_INFINITY
      : (options.deployedAt ?? this.clock.now()).getTime();
    entries.push({ certificate, at, seq: this.seq++ });
    if (entries.length > HISTORY) entries.shift();
    this.hosts.set(key, entries);
  }

  /** Drops hosts not in `keep`. */
  retain(keep: Iterable<string>): void {
    const wanted = new Set([...keep].map((h) => h.toLowerCase()));
    for (const host of this.hosts.keys()) if (!wanted.has(host)) this.hosts.delete(host);
  }

  hostNames(): string[] {
    return [...this.hosts.keys()];
  }

  /** The newest deployed entry, whatever the propagation (what the management plane says). */
  latest(host: string): PreparedCertificate | undefined {
    return this.hosts.get(host.toLowerCase())?.at(-1)?.certificate;
  }

  /** What a hop with `delayMs` of propagation serves for `host` now, ignoring faults. */
  peek(host: string, delayMs: number): PreparedCertificate | undefined {
    const now = this.clock.now().getTime();
    return this.hosts
      .get(host.toLowerCase())
      ?.filter((e) => e.at + delayMs <= now)
      .at(-1)?.certificate;
  }

  /**
   * What hop `hop` serves for `host` now, with `delayMs` of propagation, applying faults (each
   * handshake consumes one use of a counted fault rule).
   */
  serve(hop: string, host: string, delayMs: number): PreparedCertificate | undefined {
    const entries = this.hosts.get(host.toLowerCase());
    if (!entries?.length) return undefined;
    const operation = `${hop} ${host.toLowerCase()}`;
    const now = this.clock.now().getTime();
    let eligible = entries.filter((e) => e.at + delayMs <= now);
    const frozen = this.faults.take(EDGE_SERVICE, operation, "neverPropagate");
    if (frozen) {
      const limit = this.frozenAt.get(frozen.id) ?? this.seq;
      this.frozenAt.set(frozen.id, limit);
      eligible = eligible.filter((e) => e.seq < limit);
    }
    if (this.faults.take(EDGE_SERVICE, operation, "wrongCertificate")) return this.wrong();
    if (this.faults.take(EDGE_SERVICE, operation, "staleCertificate")) {
      return (eligible.at(-2) ?? eligible.at(-1))?.certificate;
    }
    return eligible.at(-1)?.certificate;
  }
}
