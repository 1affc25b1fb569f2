// GPT-2's byte <-> unicode table: every byte maps to a printable character so
// BPE vocabularies can be stored as JSON strings. Printable Latin-1 bytes map to
// themselves; the other 68 bytes map to U+0100 upward, in byte order.

function buildTable(): { byteToChar: string[]; charToByte: Map<string, number>; order: number[] } {
  const order: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) order.push(b);
  for (let b = 0xa1; b <= 0xac; b++) order.push(b);
  for (let b = 0xae; b <= 0xff; b++) order.push(b);
  const chars = order.map((b) => b);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!order.includes(b)) {
      order.push(b);
      chars.push(256 + n++);
    }
  }
  const byteToChar = new Array<string>(256);
  const charToByte = new Map<string, number>();
  order.forEach((b, i) => {
    const c = String.fromCharCode(chars[i]);
    byteToChar[b] = c;
    charToByte.set(c, b);
  });
  return { byteToChar, charToByte, order };
}

const TABLE = buildTable();

/** byte -> its one-character byte-level spelling (e.g. 0x20 -> "Ġ"). */
export const BYTE_TO_CHAR: readonly string[] = TABLE.byteToChar;
/** Inverse of BYTE_TO_CHAR. */
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = TABLE.charToByte;
/** Bytes in GPT-2's vocabulary order (GPT-2 gives byte BYTE_ORDER[i] the id i). */
export const BYTE_ORDER: readonly number[] = TABLE.order;

const encoder = new TextEncoder();

export function toByteLevel(text: string): string {
  let ascii = true;
  for (let i = 0; i < text.length && ascii; i++) ascii = text.charCodeAt(i) < 0x80;
  if (ascii) {
    // Most pieces are ASCII: skip the TextEncoder call and its allocation.
    let s = "";
    for (let i = 0; i < text.length; i++) s += TABLE.byteToChar[text.charCodeAt(i)];
    return s;
  }
  const bytes = encoder.encode(text);
  let s = "";
  for (const b of bytes) s += TABLE.byteToChar[b];
  return s;
}

/** Appends the bytes of a byte-level string to `out`; false when it holds a character outside the table. */
export function fromByteLevel(s: string, out: number[]): boolean {
  for (const ch of s) {
    const b = TABLE.charToByte.get(ch);
    if (b === undefined) return false;
    out.push(b);
  }
  return true;
}
