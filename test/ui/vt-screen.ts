/**
 * A very small terminal model for tests: it applies what ink writes (text,
 * CR/LF as a tty with ONLCR shows it, cursor moves, erases, scrolling at the
 * bottom, deferred wrap at the right edge) to a grid, so a test can check
 * what a user would see after many frames, not just what the last frame was.
 * Every character is taken as one cell wide.
 */
export class VtScreen {
  private grid: string[][];
  private row = 0;
  private col = 0;
  private wrapPending = false;
  private pending = '';

  constructor(
    readonly columns: number,
    readonly rows: number,
  ) {
    this.grid = Array.from({ length: rows }, () => this.blank());
  }

  private blank(): string[] {
    return Array.from({ length: this.columns }, () => ' ');
  }

  private lineFeed(): void {
    this.wrapPending = false;
    this.col = 0;
    if (this.row === this.rows - 1) {
      this.grid.shift();
      this.grid.push(this.blank());
    } else {
      this.row++;
    }
  }

  private csi(params: string, final: string): void {
    const nums = params
      .replace(/^\?/, '')
      .split(';')
      .map((p) => (p === '' ? Number.NaN : Number(p)));
    const n = Number.isNaN(nums[0] ?? Number.NaN) ? 1 : (nums[0] as number);
    const clampRow = (r: number) => Math.min(this.rows - 1, Math.max(0, r));
    this.wrapPending = false;
    switch (final) {
      case 'A':
        this.row = clampRow(this.row - n);
        break;
      case 'B':
        this.row = clampRow(this.row + n);
        break;
      case 'C':
        this.col = Math.min(this.columns - 1, this.col + n);
        break;
      case 'D':
        this.col = Math.max(0, this.col - n);
        break;
      case 'E':
        this.row = clampRow(this.row + n);
        this.col = 0;
        break;
      case 'F':
        this.row = clampRow(this.row - n);
        this.col = 0;
        break;
      case 'G':
        this.col = Math.min(this.columns - 1, n - 1);
        break;
      case 'H':
        this.row = clampRow(n - 1);
        this.col = Math.min(
          this.columns - 1,
          (Number.isNaN(nums[1] ?? Number.NaN) ? 1 : (nums[1] as number)) - 1,
        );
        break;
      case 'J':
        if (params === '2' || params === '3')
          this.grid = Array.from({ length: this.rows }, () => this.blank());
        break;
      case 'K': {
        const line = this.grid[this.row] ?? this.blank();
        const from = params === '2' ? 0 : this.col;
        for (let c = from; c < this.columns; c++) line[c] = ' ';
        break;
      }
      default:
        // SGR (m) and private modes (h/l) do not move anything.
        break;
    }
  }

  /** Apply bytes written to the terminal. */
  write(data: string): void {
    const s = this.pending + data;
    this.pending = '';
    let i = 0;
    while (i < s.length) {
      const ch = String.fromCodePoint(s.codePointAt(i) ?? 32);
      if (ch === '\u001B') {
        // biome-ignore lint/suspicious/noControlCharactersInRegex: parsing escape sequences is the point.
        const m = /^\u001B\[([0-9;?]*)([A-Za-z])/.exec(s.slice(i));
        if (m) {
          this.csi(m[1] ?? '', m[2] ?? '');
          i += m[0].length;
          continue;
        }
        if (i + 2 >= s.length) {
          this.pending = s.slice(i);
          return;
        }
        i += 2;
        continue;
      }
      if (ch === '\n') this.lineFeed();
      else if (ch === '\r') {
        this.col = 0;
        this.wrapPending = false;
      } else if (ch >= ' ') {
        if (this.wrapPending) this.lineFeed();
        const line = this.grid[this.row];
        if (line) line[this.col] = ch;
        if (this.col === this.columns - 1) this.wrapPending = true;
        else this.col++;
      }
      i += ch.length;
    }
  }

  /** The screen as lines, trailing spaces trimmed. */
  lines(): string[] {
    return this.grid.map((l) => l.join('').trimEnd());
  }
}
