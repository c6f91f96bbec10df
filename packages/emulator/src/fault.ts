// One injected fault: it fires for at most `times` matching attempts and counts the ones it took.

export class Fault<P extends object = object> {
  readonly kind: string;
  readonly params: P;
  readonly times: number;
  #hits = 0;

  constructor(kind: string, params: P, times = Infinity) {
    if (!(times >= 0)) throw new RangeError(`${kind}: times must be ≥ 0`);
    this.kind = kind;
    this.params = params;
    this.times = times;
  }

  /** Attempts the fault took so far. */
  get hits(): number {
    return this.#hits;
  }

  get active(): boolean {
    return this.#hits < this.times;
  }

  /** Counts one attempt and says whether the fault fires for it. */
  take(): boolean {
    if (!this.active) return false;
    this.#hits++;
    return true;
  }

  toJSON(): object {
    return { kind: this.kind, ...this.params, times: Number.isFinite(this.times) ? this.times : null, hits: this.#hits };
  }
}
