import { useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { Link, useNavigate } from "react-router";
import { api, ApiError } from "../api/client";
import { AuthFrame } from "./AuthFrame";
import { signInProblem } from "./SignIn";

export function Register() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const [form, setForm] = useState({ business_name: "", name: "", email: "", password: "" });
  const [error, setError] = useState<string | null>(null);
  const [details, setDetails] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setDetails([]);
    try {
      await api("/api/v1/auth/register", { method: "POST", json: form });
      navigate("/signin", { state: { notice: "auth.created" } });
    } catch (caught) {
      if (caught instanceof ApiError && caught.slug === "weak-password") {
        setError(t("auth.weak"));
        setDetails((caught.problem.errors ?? []).map((e) => e.message));
      } else if (caught instanceof ApiError && caught.slug === "registration-conflict") {
        setError(t("auth.conflict"));
      } else setError(signInProblem(caught, t));
    } finally {
      setBusy(false);
    }
  }

  const field = (name: keyof typeof form, label: string, type = "text", auto = "off") => (
    <label className="field">
      <span>{label}</span>
      <input
        name={name}
        type={type}
        autoComplete={auto}
        required
        value={form[name]}
        onChange={(event) => setForm({ ...form, [name]: event.target.value })}
      />
    </label>
  );

  return (
    <AuthFrame title={t("auth.registerTitle")}>
      <form onSubmit={(event) => void submit(event)} className="stack">
        {field("business_name", t("auth.businessName"), "text", "organization")}
        {field("name", t("auth.yourName"), "text", "name")}
        {field("email", t("auth.email"), "email", "username")}
        {field("password", t("auth.password"), "password", "new-password")}
        {error && (
          <div className="alert alert-error" role="alert">
            <p>{error}</p>
            {details.length > 0 && (
              <ul>
                {details.map((d) => (
                  <li key={d}>{d}</li>
                ))}
              </ul>
            )}
          </div>
        )}
        <button type="submit" className="button primary" disabled={busy}>
          {t("auth.register")}
        </button>
      </form>
      <p className="muted">
        {t("auth.haveAccount")} <Link to="/signin">{t("auth.signIn")}</Link>
      </p>
    </AuthFrame>
  );
}
