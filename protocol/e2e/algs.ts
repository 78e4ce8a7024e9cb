// The v2 algorithm names, apart from the code that uses them, so the wire
// schemas (messages.ts) can name them without importing any crypto.

export const DISTRIBUTION_ALG = "sealroom-skd-v2";
export const ENVELOPE_V2_ALG = "sealroom-sk-v2";
