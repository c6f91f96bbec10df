// Progress lines at the bottom of a terminal, redrawn at most every 200 ms. Only the CLI creates one,
// and only when stdout is a terminal; the lines above them (per-item lines, warnings) are never touched.
import { applyProgress, emptyProgress, renderProgress, type ProgressEvents, type ProgressState } from './state.js';

/** At most one redraw per this many ms. */
export const REDRAW_MS = 200;

// ANSI: to column 1 of the line n lines up (CSI n F), erase to the end of the screen (CSI J).
const up = (n: number): string => (n > 0 ? `\x1b[${n}F` : '\r');
const ERASE_DOWN = '\x1b[J';

export class TerminalProgress implements ProgressEvents {
  readonly #state: ProgressState = emptyProgress();
  /** Lines of progress now on screen, right above the cursor. */
  #shown = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(
    private readonly out: { write(text: string): void },
    private readonly columns: () => number,
    private readonly now: () => number = () => Date.now(),
  ) {}

  plan(items: number, bytes: number): void {
    applyProgress(this.#state, this.now(), { kind: 'plan', items, bytes });
    this.#schedule();
  }
  start(id: string, label: string, size: number): void {
    applyProgress(this.#state, this.now(), { kind: 'start', id, label, size });
    this.#schedule();
  }
  bytes(id: string, n: number): void {
    applyProgress(this.#state, this.now(), { kind: 'bytes', id, n });
    this.#schedule();
  }
  end(id: string): void {
    applyProgress(this.#state, this.now(), { kind: 'end', id });
    this.#schedule();
  }

  /** Writes a line of its own (a per-item line, a warning) above the progress lines. */
  above(write: () => void): void {
    this.#erase();
    write();
    if (!this.#stopped) this.#schedule();
  }

  /** Erases the progress lines for good (before the summary). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#erase();
  }

  #erase(): void {
    if (this.#shown === 0) return;
    this.out.write(up(this.#shown) + ERASE_DOWN);
    this.#shown = 0;
  }

  #schedule(): void {
    if (this.#stopped || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#draw();
    }, REDRAW_MS);
    this.#timer.unref();
  }

  #draw(): void {
    if (this.#stopped) return;
    const lines = renderProgress(this.#state, this.now(), Math.max(20, this.columns() - 1));
    this.out.write(up(this.#shown) + ERASE_DOWN + lines.map((l) => l + '\n').join(''));
    this.#shown = lines.length;
    // Rates and ETAs change even while no byte arrives (a stalled connection): keep redrawing.
    if (lines.length > 0) this.#schedule();
  }
}
