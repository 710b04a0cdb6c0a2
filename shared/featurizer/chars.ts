/** Character classes the featurizer's hand-written scans test, as JavaScript's regular expressions define them. */

/** JavaScript's `\s`. */
export function isSpace(c: number): boolean {
  return (
    (c >= 9 && c <= 13) ||
    c === 32 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

export const isUpper = (c: number): boolean => c >= 65 && c <= 90;
export const isLetter = (c: number): boolean => isUpper(c) || (c >= 97 && c <= 122);
export const isDigit = (c: number): boolean => c >= 48 && c <= 57;
export const isAlnum = (c: number): boolean => isLetter(c) || isDigit(c);
/** JavaScript's `\w` (without the u flag): letters, digits and '_'. */
export const isWordChar = (c: number): boolean => isAlnum(c) || c === 95;
