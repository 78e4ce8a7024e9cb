// Language tags for subtitle tracks: sidecar infixes ("en", "pt-BR", "eng")
// and container tags ("fre", "ger") to one BCP-47-ish spelling, plus a label
// for people. "und" (undetermined) when there is nothing usable.

// ISO 639-2 (bibliographic and terminology) codes that have a two-letter form, for the languages subtitles usually come in.
const THREE_TO_TWO: Record<string, string> = {
  eng: "en",
  fre: "fr",
  fra: "fr",
  ger: "de",
  deu: "de",
  spa: "es",
  por: "pt",
  ita: "it",
  dut: "nl",
  nld: "nl",
  rus: "ru",
  ukr: "uk",
  pol: "pl",
  cze: "cs",
  ces: "cs",
  slo: "sk",
  slk: "sk",
  hun: "hu",
  rum: "ro",
  ron: "ro",
  bul: "bg",
  gre: "el",
  ell: "el",
  tur: "tr",
  ara: "ar",
  heb: "he",
  per: "fa",
  fas: "fa",
  hin: "hi",
  jpn: "ja",
  chi: "zh",
  zho: "zh",
  kor: "ko",
  vie: "vi",
  tha: "th",
  ind: "id",
  may: "ms",
  msa: "ms",
  swe: "sv",
  nor: "no",
  nob: "nb",
  nno: "nn",
  dan: "da",
  fin: "fi",
  ice: "is",
  isl: "is",
  est: "et",
  lav: "lv",
  lit: "lt",
  hrv: "hr",
  srp: "sr",
  slv: "sl",
  cat: "ca",
  baq: "eu",
  eus: "eu",
  glg: "gl",
  wel: "cy",
  cym: "cy",
  gle: "ga",
};

/** "EN" -> "en", "pt-br" -> "pt-BR", "zh-hant" -> "zh-Hant", "eng" -> "en"; null when it is not a language tag. */
export function normalizeLanguage(tag: string): string | null {
  const parts = tag.trim().replace(/_/g, "-").split("-");
  const primary = parts[0].toLowerCase();
  if (!/^[a-z]{2,3}$/.test(primary)) return null;
  const out = [THREE_TO_TWO[primary] ?? primary];
  for (const p of parts.slice(1)) {
    if (/^[a-zA-Z]{4}$/.test(p)) out.push(p[0].toUpperCase() + p.slice(1).toLowerCase());
    else if (/^([a-zA-Z]{2}|\d{3})$/.test(p)) out.push(p.toUpperCase());
    else if (/^[a-zA-Z0-9]{5,8}$/.test(p)) out.push(p.toLowerCase());
    else return null;
  }
  return out.join("-");
}

let names: Intl.DisplayNames | null | undefined;

/** "en" -> "English", "pt-BR" -> "Brazilian Portuguese", "und" -> "Unknown language". */
export function languageLabel(lang: string): string {
  if (lang === "und") return "Unknown language";
  if (names === undefined) {
    try {
      names = new Intl.DisplayNames(["en"], { type: "language", fallback: "code" });
    } catch {
      names = null; // Node built without ICU data
    }
  }
  try {
    return names?.of(lang) ?? lang;
  } catch {
    return lang;
  }
}
