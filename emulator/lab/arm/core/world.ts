/**
 * The ARM service's runtime around its persisted state: the lab clock, Key Vault access, the
 * long-running operation table with its timers, a serial lane for every state change (handlers and
 * timers never interleave), persistence and `resource.changed` notifications.
 */
import { randomUUID } from "node:crypto";
import type { LabContext } from "../../core/lab.js";
import { keyVaultAccess, type KeyVaultAccess } from "./keyVault.js";
import type { ArmState, ErrorInfo, OperationKind, OperationState } from "./state.js";

/** Called when an operation reaches a terminal state (inside the serial lane). */
export type CompletionHook = (op: OperationState) => Promise<void> | void;
/** Timed work outside operations (Front Door deployments): `run` processes what is due, `nextDue` says when more is. */
export interface Ticker {
  run(now: number): Promise<void> | void;
  nextDue(now: number): number | undefined;
}

export class ArmWorld {
  readonly kv: KeyVaultAccess;
  private readonly completions = new Map<OperationKind, CompletionHook>();
  private readonly tickers: Ticker[] = [];
  private lane: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    readonly ctx: LabContext,
    readonly state: ArmState,
  ) {
    this.kv = keyVaultAccess(ctx);
  }

  get settings() {
    return this.state.settings;
  }

  get armUrl(): string {
    return this.ctx.servers.arm.url;
  }

  get subscriptionId(): string {
    return this.ctx.seed.subscriptionId;
  }

  get resourceGroup(): string {
    return this.ctx.seed.resourceGroup;
  }

  now(): number {
    return this.ctx.clock.now().getTime();
  }

  nowIso(): string {
    return this.ctx.clock.now().toISOString();
  }

  save(): void {
    this.ctx.store.save("arm", this.state);
  }

  /** Tells the data plane a change became effective. */
  changed(id: string): void {
    this.ctx.bus.emit("resource.changed", { service: "arm", id });
  }

  /** Runs `fn` after every earlier state change finished; ticks due work first. */
  exclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.lane.then(async () => {
      await this.runTickers();
      const out = await fn();
      this.save();
      this.schedule();
      return out;
    });
    this.lane = run.catch(() => undefined);
    return run;
  }

  onComplete(kind: OperationKind, hook: CompletionHook): void {
    this.completions.set(kind, hook);
  }

  addTicker(ticker: Ticker): void {
    this.tickers.push(ticker);
  }

  /** Starts an operation that completes after `durationMs` (lab clock). */
  startOperation(
    kind: OperationKind,
    resourceId: string,
    durationMs: number,
    options: { failWith?: ErrorInfo; stuck?: boolean } = {},
  ): OperationState {
    const op: OperationState = {
      id: randomUUID(),
      kind,
      resourceId,
      status: "InProgress",
      startTime: this.nowIso(),
      dueAt: this.now() + durationMs,
      ...(options.failWith ? { failWith: options.failWith } : {}),
      ...(options.stuck ? { stuck: true } : {}),
    };
    this.state.operations[op.id] = op;
    this.pruneOperations();
    return op;
  }

  operation(id: string): OperationState | undefined {
    return this.state.operations[id.toLowerCase()] ?? this.state.operations[id];
  }

  /** True while a fault rule of `kind` for the ARM service exists. */
  faultActive(kind: string): boolean {
    return this.ctx.faults.list().some((r) => r.service === "arm" && r.kind === kind);
  }

  start(): void {
    this.ctx.onStop(() => {
      this.stopped = true;
      if (this.timer) clearTimeout(this.timer);
    });
    void this.exclusive(() => undefined);
  }

  private async runTickers(): Promise<void> {
    const now = this.now();
    for (const op of Object.values(this.state.operations)) {
      if (op.status !== "InProgress") continue;
      if (op.stuck) {
        if (this.faultActive(op.kind === "apimUpdate" ? "apimStuck" : "lroStuck")) continue;
        // The fault was removed: the operation resumes and completes after its full duration.
        op.stuck = false;
        op.dueAt = now + this.durationOf(op.kind);
      }
      if (op.dueAt > now) continue;
      op.status = op.failWith ? "Failed" : "Succeeded";
      if (op.failWith) op.error = op.failWith;
      op.endTime = this.nowIso();
      await this.completions.get(op.kind)?.(op);
    }
    for (const ticker of this.tickers) await ticker.run(now);
  }

  private durationOf(kind: OperationKind): number {
    return kind === "apimUpdate" ? this.settings.apimUpdateMs : this.settings.frontDoorOperationMs;
  }

  /** Arms one timer for the earliest due work (stuck work is re-checked every 200 ms). */
  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const now = this.now();
    const dues: number[] = [];
    for (const op of Object.values(this.state.operations)) {
      if (op.status === "InProgress") dues.push(op.stuck ? now + 200 : op.dueAt);
    }
    for (const ticker of this.tickers) {
      const due = ticker.nextDue(now);
      if (due !== undefined) dues.push(due);
    }
    if (dues.length === 0) return;
    const next = Math.min(...dues);
    this.timer = setTimeout(() => void this.exclusive(() => undefined), Math.max(5, next - now));
    this.timer.unref();
  }

  /** Keeps the operation table small: finished operations older than an hour go. */
  private pruneOperations(): void {
    const cutoff = this.now() - 3_600_000;
    for (const [id, op] of Object.entries(this.state.operations)) {
      if (op.status !== "InProgress" && op.endTime && Date.parse(op.endTime) < cutoff) {
        delete this.state.operations[id];
      }
    }
  }
}
