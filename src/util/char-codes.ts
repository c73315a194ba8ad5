/** Character codes the byte and text scanners compare with (`charCodeAt`, `buf[i]`): one list, one name each. */
export const TAB = 9;
export const LF = 10;
export const CR = 13;
export const SPACE = 32;
export const QUOTE = 34;
export const HASH = 35;
export const COMMA = 44;
export const MINUS = 45;
export const DOT = 46;
export const DIGIT_0 = 48;
export const DIGIT_9 = 57;
export const EQUALS = 61;
export const BACKSLASH = 92;
