import { Languages } from "lucide-react";
import type { ReactNode } from "react";
import { useTranslation } from "react-i18next";
import { setLanguage } from "../i18n";

/** The centred card of the signed-out screens, with the language switch. */
export function AuthFrame({ title, children }: { title: string; children: ReactNode }) {
  const { t, i18n } = useTranslation();
  return (
    <div className="auth-page">
      <main className="auth-card" id="main">
        <div className="auth-head">
          <div className="brand">
            <span className="brand-mark" aria-hidden="true">
              م
            </span>
            <span className="brand-name">{t("app.name")}</span>
          </div>
          <button
            type="button"
            className="button ghost"
            aria-label={t("nav.languageLabel")}
            data-testid="language-switch"
            onClick={() => setLanguage(i18n.language === "ar" ? "en" : "ar")}
          >
            <Languages size={16} aria-hidden="true" />
            {t("nav.language")}
          </button>
        </div>
        <h1>{title}</h1>
        {children}
      </main>
    </div>
  );
}
