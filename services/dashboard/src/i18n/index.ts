// i18n: English and Arabic. The chosen language (and whether Arabic uses Arabic-Indic digits)
// is the only thing the dashboard keeps in localStorage.
import i18n from "i18next";
import { initReactI18next } from "react-i18next";
import { ar } from "./ar";
import { en } from "./en";

export type Language = "en" | "ar";
const LANGUAGE_KEY = "majlis.language";
const DIGITS_KEY = "majlis.arabicDigits";

function storedLanguage(): Language {
  const saved = window.localStorage.getItem(LANGUAGE_KEY);
  if (saved === "ar" || saved === "en") return saved;
  return navigator.language.toLowerCase().startsWith("ar") ? "ar" : "en";
}

export function arabicDigits(): boolean {
  return window.localStorage.getItem(DIGITS_KEY) !== "latn";
}

export function setArabicDigits(on: boolean): void {
  window.localStorage.setItem(DIGITS_KEY, on ? "arab" : "latn");
  void i18n.changeLanguage(i18n.language); // re-render every formatted number and date
}

/** The BCP 47 locale for Intl, with the numbering system the user chose. */
export function locale(): string {
  if (i18n.language === "ar") return arabicDigits() ? "ar-AE-u-nu-arab" : "ar-AE-u-nu-latn";
  return "en-GB";
}

function applyDocument(language: string): void {
  const root = document.documentElement;
  root.lang = language;
  root.dir = language === "ar" ? "rtl" : "ltr";
}

export function setLanguage(language: Language): void {
  window.localStorage.setItem(LANGUAGE_KEY, language);
  void i18n.changeLanguage(language);
}

void i18n.use(initReactI18next).init({
  resources: { en: { translation: en }, ar: { translation: ar } },
  lng: storedLanguage(),
  fallbackLng: "en",
  interpolation: { escapeValue: false }, // React escapes
  returnNull: false,
});
applyDocument(i18n.language);
i18n.on("languageChanged", applyDocument);

export default i18n;
