import { useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { useNavigate } from "react-router";
import { api, ApiError } from "../api/client";
import { AuthFrame } from "./AuthFrame";

/** The invite link carries its token in the fragment, which never reaches a server log. */
export function AcceptInvite() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const token = new URLSearchParams(window.location.hash.slice(1)).get("token") ?? "";
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    try {
      await api("/api/v1/auth/invites/accept", { method: "POST", json: { token, name, password } });
      window.history.replaceState(null, "", window.location.pathname); // drop the token
      navigate("/signin", { state: { notice: "auth.accepted" } });
    } catch (caught) {
      if (caught instanceof ApiError && caught.slug === "weak-password") {
        setError(
          [t("auth.weak"), ...(caught.problem.errors ?? []).map((e) => e.message)].join(" "),
        );
      } else setError(t("auth.inviteInvalid"));
    }
  }

  return (
    <AuthFrame title={t("auth.inviteTitle")}>
      {!token ? (
        <p className="alert alert-error">{t("auth.inviteMissing")}</p>
      ) : (
        <form onSubmit={(event) => void submit(event)} className="stack">
          <label className="field">
            <span>{t("auth.yourName")}</span>
            <input required value={name} onChange={(e) => setName(e.target.value)} />
          </label>
          <label className="field">
            <span>{t("auth.password")}</span>
            <input
              type="password"
              autoComplete="new-password"
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </label>
          {error && (
            <p className="alert alert-error" role="alert">
              {error}
            </p>
          )}
          <button type="submit" className="button primary">
            {t("auth.accept")}
          </button>
        </form>
      )}
    </AuthFrame>
  );
}
