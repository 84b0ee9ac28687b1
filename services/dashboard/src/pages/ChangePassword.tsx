import { useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { ApiError, changePassword } from "../api/client";
import { SignInsSection } from "./SignInsSection";
import { TwoFactorSection } from "./TwoFactorSection";

/** The account's security: its password and two-factor sign-in. */
export function ChangePassword() {
  const { t } = useTranslation();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    try {
      await changePassword(current, next);
      setCurrent("");
      setNext("");
      setMessage({ ok: true, text: t("auth.passwordChanged") });
    } catch (caught) {
      let text = String(caught);
      if (caught instanceof ApiError && caught.slug === "invalid-credentials") text = t("auth.invalid");
      else if (caught instanceof ApiError && caught.slug === "weak-password") {
        text = [t("auth.weak"), ...(caught.problem.errors ?? []).map((e) => e.message)].join(" ");
      }
      setMessage({ ok: false, text });
    }
  }

  return (
    <section className="page narrow">
      <h1>{t("auth.securityTitle")}</h1>
      <form onSubmit={(event) => void submit(event)} className="stack card">
        <h2>{t("auth.passwordTitle")}</h2>
        <label className="field">
          <span>{t("auth.currentPassword")}</span>
          <input
            type="password"
            autoComplete="current-password"
            required
            value={current}
            onChange={(e) => setCurrent(e.target.value)}
          />
        </label>
        <label className="field">
          <span>{t("auth.newPassword")}</span>
          <input
            type="password"
            autoComplete="new-password"
            required
            value={next}
            onChange={(e) => setNext(e.target.value)}
          />
        </label>
        {message && (
          <p className={message.ok ? "alert alert-ok" : "alert alert-error"} role="status">
            {message.text}
          </p>
        )}
        <button type="submit" className="button primary">
          {t("auth.save")}
        </button>
      </form>
      <TwoFactorSection />
      <SignInsSection />
    </section>
  );
}
