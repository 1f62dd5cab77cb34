/**
 * A small QR code encoder (ISO/IEC 18004) for `pushgate enroll`: byte mode,
 * error correction level M, versions 1–10 (up to 213 bytes, enough for an
 * enrolment link), the mask with the lowest penalty. Written for this one
 * use, so the CLI needs no dependency; rendered for a terminal with
 * half-block characters (two module rows per line).
 */

/** Per version 1..10, level M: EC codewords per block, then [blocks, data codewords] groups. */
const BLOCKS_M: readonly (readonly [number, readonly (readonly [number, number])[]])[] = [
  [10, [[1, 16]]], [16, [[1, 28]]], [26, [[1, 44]]], [18, [[2, 32]]], [24, [[2, 43]]],
  [16, [[4, 27]]], [18, [[4, 31]]], [22, [[2, 38], [2, 39]]], [22, [[3, 36], [2, 37]]], [26, [[4, 43], [1, 44]]],
];
/** Alignment pattern centre coordinates per version 1..10. */
const ALIGN: readonly (readonly number[])[] = [
  [], [6, 18], [6, 22], [6, 26], [6, 30], [6, 34], [6, 22, 38], [6, 24, 42], [6, 26, 46], [6, 28, 50],
];

/** GF(256) multiplication modulo x^8 + x^4 + x^3 + x^2 + 1. */
function gfMul(x: number, y: number): number {
  let z = 0;
  for (let i = 7; i >= 0; i--) {
    z = (z << 1) ^ ((z >>> 7) * 0x11d);
    z ^= ((y >>> i) & 1) * x;
  }
  return z & 0xff;
}

/** Reed–Solomon generator polynomial of `degree` (coefficients, highest first, leading 1 dropped). */
function rsDivisor(degree: number): number[] {
  const result = new Array<number>(degree).fill(0);
  result[degree - 1] = 1;
  let root = 1;
  for (let i = 0; i < degree; i++) {
    for (let j = 0; j < degree; j++) {
      result[j] = gfMul(result[j]!, root);
      if (j + 1 < degree) result[j]! ^= result[j + 1]!;
    }
    root = gfMul(root, 2);
  }
  return result;
}

function rsRemainder(data: readonly number[], divisor: readonly number[]): number[] {
  const result = new Array<number>(divisor.length).fill(0);
  for (const b of data) {
    const factor = b ^ result.shift()!;
    result.push(0);
    divisor.forEach((d, i) => { result[i]! ^= gfMul(d, factor); });
  }
  return result;
}

const bit = (x: number, i: number): boolean => ((x >>> i) & 1) !== 0;

/** The QR code of `text` (UTF-8) as rows of modules (true = dark); throws when longer than version 10 holds. */
export function qrMatrix(text: string): boolean[][] {
  const bytes = [...Buffer.from(text, 'utf8')];
  let version = 0;
  let dataCodewords = 0;
  for (let v = 1; v <= 10; v++) {
    const cap = BLOCKS_M[v - 1]![1].reduce((s, [n, k]) => s + n * k, 0);
    const needBits = 4 + (v < 10 ? 8 : 16) + bytes.length * 8;
    if (needBits <= cap * 8) {
      version = v;
      dataCodewords = cap;
      break;
    }
  }
  if (version === 0) throw new Error(`text of ${bytes.length} bytes is too long for a QR code up to version 10`);

  // Bit stream: mode 0100 (byte), count, data, terminator, padding.
  const bits: number[] = [];
  const push = (value: number, len: number): void => { for (let i = len - 1; i >= 0; i--) bits.push((value >>> i) & 1); };
  push(4, 4);
  push(bytes.length, version < 10 ? 8 : 16);
  for (const b of bytes) push(b, 8);
  push(0, Math.min(4, dataCodewords * 8 - bits.length));
  while (bits.length % 8 !== 0) bits.push(0);
  const data: number[] = [];
  for (let i = 0; i < bits.length; i += 8) data.push(bits.slice(i, i + 8).reduce((a, b) => (a << 1) | b, 0));
  for (let pad = 0xec; data.length < dataCodewords; pad ^= 0xec ^ 0x11) data.push(pad);

  // Blocks with their EC codewords, interleaved.
  const [ecLen, groups] = BLOCKS_M[version - 1]!;
  const divisor = rsDivisor(ecLen);
  const blocks: { data: number[]; ec: number[] }[] = [];
  let at = 0;
  for (const [count, k] of groups) {
    for (let b = 0; b < count; b++) {
      const d = data.slice(at, at + k);
      at += k;
      blocks.push({ data: d, ec: rsRemainder(d, divisor) });
    }
  }
  const codewords: number[] = [];
  const longest = Math.max(...blocks.map((b) => b.data.length));
  for (let i = 0; i < longest; i++) for (const b of blocks) if (i < b.data.length) codewords.push(b.data[i]!);
  for (let i = 0; i < ecLen; i++) for (const b of blocks) codewords.push(b.ec[i]!);

  const size = version * 4 + 17;
  const modules = Array.from({ length: size }, () => new Array<boolean>(size).fill(false));
  const isFunction = Array.from({ length: size }, () => new Array<boolean>(size).fill(false));
  const fn = (x: number, y: number, dark: boolean): void => {
    modules[y]![x] = dark;
    isFunction[y]![x] = true;
  };
  // Timing patterns, finders with separators, alignment patterns.
  for (let i = 0; i < size; i++) {
    fn(6, i, i % 2 === 0);
    fn(i, 6, i % 2 === 0);
  }
  for (const [cx, cy] of [[3, 3], [size - 4, 3], [3, size - 4]] as const) {
    for (let dy = -4; dy <= 4; dy++) {
      for (let dx = -4; dx <= 4; dx++) {
        const x = cx + dx;
        const y = cy + dy;
        const dist = Math.max(Math.abs(dx), Math.abs(dy));
        if (x >= 0 && x < size && y >= 0 && y < size) fn(x, y, dist !== 2 && dist !== 4);
      }
    }
  }
  const align = ALIGN[version - 1]!;
  for (const ax of align) {
    for (const ay of align) {
      if ((ax === 6 && ay === 6) || (ax === 6 && ay === size - 7) || (ax === size - 7 && ay === 6)) continue;
      for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) fn(ax + dx, ay + dy, Math.max(Math.abs(dx), Math.abs(dy)) !== 1);
    }
  }
  const drawFormat = (mask: number): void => {
    // Level M is 00; BCH(15,5) with generator 0x537, masked with 0x5412.
    const d = mask;
    let rem = d;
    for (let i = 0; i < 10; i++) rem = (rem << 1) ^ ((rem >>> 9) * 0x537);
    const f = ((d << 10) | rem) ^ 0x5412;
    for (let i = 0; i <= 5; i++) fn(8, i, bit(f, i));
    fn(8, 7, bit(f, 6));
    fn(8, 8, bit(f, 7));
    fn(7, 8, bit(f, 8));
    for (let i = 9; i < 15; i++) fn(14 - i, 8, bit(f, i));
    for (let i = 0; i < 8; i++) fn(size - 1 - i, 8, bit(f, i));
    for (let i = 8; i < 15; i++) fn(8, size - 15 + i, bit(f, i));
    fn(8, size - 8, true);
  };
  drawFormat(0); // reserves the format areas before the data is placed
  if (version >= 7) {
    let rem = version;
    for (let i = 0; i < 12; i++) rem = (rem << 1) ^ ((rem >>> 11) * 0x1f25);
    const v = (version << 12) | rem;
    for (let i = 0; i < 18; i++) {
      const a = size - 11 + (i % 3);
      const b = Math.floor(i / 3);
      fn(a, b, bit(v, i));
      fn(b, a, bit(v, i));
    }
  }
  // Data in the two-column zigzag from the bottom right, skipping the vertical timing column.
  let i = 0;
  for (let right = size - 1; right >= 1; right -= 2) {
    if (right === 6) right = 5;
    for (let vert = 0; vert < size; vert++) {
      for (let j = 0; j < 2; j++) {
        const x = right - j;
        const upward = ((right + 1) & 2) === 0;
        const y = upward ? size - 1 - vert : vert;
        if (!isFunction[y]![x] && i < codewords.length * 8) {
          modules[y]![x] = bit(codewords[i >>> 3]!, 7 - (i & 7));
          i++;
        }
      }
    }
  }
  const MASKS: ((x: number, y: number) => boolean)[] = [
    (x, y) => (x + y) % 2 === 0, (_x, y) => y % 2 === 0, (x) => x % 3 === 0, (x, y) => (x + y) % 3 === 0,
    (x, y) => (Math.floor(x / 3) + Math.floor(y / 2)) % 2 === 0, (x, y) => ((x * y) % 2) + ((x * y) % 3) === 0,
    (x, y) => (((x * y) % 2) + ((x * y) % 3)) % 2 === 0, (x, y) => (((x + y) % 2) + ((x * y) % 3)) % 2 === 0,
  ];
  const applyMask = (m: number): void => {
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) if (!isFunction[y]![x] && MASKS[m]!(x, y)) modules[y]![x] = !modules[y]![x];
  };
  let best = 0;
  let bestPenalty = Infinity;
  for (let m = 0; m < 8; m++) {
    applyMask(m);
    drawFormat(m);
    const p = penalty(modules);
    if (p < bestPenalty) {
      bestPenalty = p;
      best = m;
    }
    applyMask(m); // XOR again: undone
  }
  applyMask(best);
  drawFormat(best);
  return modules;
}

/** Rules 1, 2 and 4 of the standard's mask penalty (runs, 2×2 blocks, dark balance); rule 3 is left out. */
function penalty(m: readonly boolean[][]): number {
  const size = m.length;
  let p = 0;
  for (let a = 0; a < size; a++) {
    let runRow = 1;
    let runCol = 1;
    for (let b = 1; b < size; b++) {
      if (m[a]![b] === m[a]![b - 1]) runRow++;
      else { if (runRow >= 5) p += runRow - 2; runRow = 1; }
      if (m[b]![a] === m[b - 1]![a]) runCol++;
      else { if (runCol >= 5) p += runCol - 2; runCol = 1; }
    }
    if (runRow >= 5) p += runRow - 2;
    if (runCol >= 5) p += runCol - 2;
  }
  let dark = 0;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (m[y]![x]) dark++;
      if (x + 1 < size && y + 1 < size) {
        const c = m[y]![x];
        if (c === m[y]![x + 1] && c === m[y + 1]![x] && c === m[y + 1]![x + 1]) p += 3;
      }
    }
  }
  return p + Math.floor(Math.abs(dark * 20 - size * size * 10) / (size * size)) * 10;
}

/**
 * The QR code for a terminal: black on white (ANSI colours, so it scans on
 * dark and light themes), a quiet zone of 2 modules, two rows per line.
 */
export function qrTerminal(text: string): string {
  const m = qrMatrix(text);
  const quiet = 2;
  const size = m.length + quiet * 2;
  const dark = (x: number, y: number): boolean => {
    const mx = x - quiet;
    const my = y - quiet;
    return mx >= 0 && my >= 0 && mx < m.length && my < m.length && m[my]![mx]!;
  };
  const lines: string[] = [];
  for (let y = 0; y < size; y += 2) {
    let line = '';
    for (let x = 0; x < size; x++) {
      const top = dark(x, y);
      const bottom = y + 1 < size ? dark(x, y + 1) : false;
      // Foreground white, background black: a block character paints the light modules.
      line += !top && !bottom ? '█' : !top ? '▀' : !bottom ? '▄' : ' ';
    }
    lines.push(`\x1b[97;40m${line}\x1b[0m`);
  }
  return `${lines.join('\n')}\n`;
}
