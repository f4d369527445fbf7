/** The lab clock: real time plus an offset that tests and demos advance (persisted with the state). */
export class LabClock {
  constructor(
    private offsetMs = 0,
    private readonly onChange: (offsetMs: number) => void = () => {},
  ) {}

  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }

  get offset(): number {
    return this.offsetMs;
  }

  advance(ms: number): Date {
    if (!Number.isFinite(ms) || ms < 0) throw new Error(`The lab clock only moves forward; got ${ms} ms.`);
    this.offsetMs += ms;
    this.onChange(this.offsetMs);
    return this.now();
  }
}
