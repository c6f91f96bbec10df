// Problems found in a config, kept short: a file of megabytes of junk gives the first MAX_PROBLEMS
// and an exact count of the rest, not megabytes on stderr.

/** More than a file with every key wrong gives, so a real config's problems are all listed. */
export const MAX_PROBLEMS = 40;

/** A problem names what the file wrote (a key, a section); a name of megabytes is cut in the middle. */
export const MAX_PROBLEM_CHARS = 300;

function short(problem: string): string {
  if (problem.length <= MAX_PROBLEM_CHARS) return problem;
  const half = (MAX_PROBLEM_CHARS - 3) / 2;
  return `${problem.slice(0, Math.floor(half))} … ${problem.slice(-Math.ceil(half))}`;
}

export class Problems {
  private readonly kept: string[] = [];
  private dropped = 0;
  /** The "key:" each problem starts with, to ask whether a key has one already. */
  private readonly labels = new Set<string>();

  constructor(private readonly limit = MAX_PROBLEMS) {}

  push(...problems: string[]): void {
    for (const p of problems) {
      const colon = p.indexOf(':');
      if (colon > 0) this.labels.add(p.slice(0, colon));
      if (this.kept.length < this.limit) this.kept.push(short(p));
      else this.dropped++;
    }
  }

  /** For a problem that is costly to word (a suggestion to compute): worded only if it is kept. */
  pushLazy(label: string, word: () => string): void {
    this.labels.add(label);
    if (this.kept.length < this.limit) this.kept.push(short(word()));
    else this.dropped++;
  }

  get count(): number {
    return this.kept.length + this.dropped;
  }

  /** Some problem was reported for this label ("cos.bucket"). */
  has(label: string): boolean {
    return this.labels.has(label);
  }

  /** The problems kept, and "… and N more problems" when some were not. */
  list(): string[] {
    if (this.dropped === 0) return [...this.kept];
    return [...this.kept, `… and ${this.dropped} more problem${this.dropped === 1 ? '' : 's'}`];
  }
}
