import type { TFunction } from "i18next";
import { useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { Link, Navigate, useLocation, useNavigate } from "react-router";
import { ApiError } from "../api/client";
import { formatWait } from "../format";
import { useSession } from "../session";
import { AuthFrame } from "./AuthFrame";

/** The sentence for a refused sign-in: wrong details, a locked account or a rate limit. */
export function signInProblem(error: unknown, t: TFunction): string {
  if (!(error instanceof ApiError)) return t("common.error", { message: String(error) });
  const time = formatWait(error.retryAfterSeconds ?? 60, t);
  switch (error.slug) {
    case "account-locked":
      return t("auth.locked", { time });
    case "rate-limited":
      return t("auth.rateLimited", { time });
    case "ip-blocked":
      return t("auth.blocked", { time });
    case "invalid-credentials":
      return t("auth.invalid");
    case "invalid-two-factor-code":
      return t("twoFactor.wrongCode");
    case "two-factor-expired":
      return t("twoFactor.expired");
    default:
      return t("common.error", { message: error.problem.title ?? error.message });
  }
}

export function SignIn() {
  const { t } = useTranslation();
  const { me, signIn, signInWithCode, endedReason } = useSession();
  const navigate = useNavigate();
  const location = useLocation();
  const notice = (location.state as { notice?: string } | null)?.notice;
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  // Once the password was right and the account has two-factor sign-in on: the sign-in's
  // token, and the code asked for next.
  const [challenge, setChallenge] = useState<string | null>(null);
  const [code, setCode] = useState("");
  const [recovery, setRecovery] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (me !== null) return <Navigate to="/inbox" replace />;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (challenge === null) await signIn(email, password);
      else await signInWithCode(challenge, code.trim());
      const from = (location.state as { from?: string } | null)?.from;
      navigate(from && from !== "/signin" ? from : "/inbox", { replace: true });
    } catch (caught) {
      const slug = caught instanceof ApiError ? caught.slug : null;
      if (caught instanceof ApiError && slug === "two-factor-required") {
        setChallenge(String(caught.problem.two_factor_token ?? ""));
        setCode("");
        return;
      }
      setCode("");
      if (slug === "two-factor-expired" || slug === "account-locked") {
        setChallenge(null);
        setRecovery(false);
      }
      setError(signInProblem(caught, t));
    } finally {
      setBusy(false);
    }
  }

  return (
    <AuthFrame title={t("auth.signInTitle")}>
      {notice && <p className="alert alert-ok">{t(notice)}</p>}
      {endedReason === "ended" && !error && (
        <p className="alert alert-warn" role="status">
          {t("auth.sessionEnded")}
        </p>
      )}
      {endedReason === "logout" && !error && <p className="alert">{t("auth.signedOut")}</p>}
      <form onSubmit={(event) => void submit(event)} className="stack">
        {challenge === null && (
          <>
            <label className="field">
              <span>{t("auth.email")}</span>
              <input
                type="email"
                name="email"
                autoComplete="username"
                required
                value={email}
                onChange={(event) => setEmail(event.target.value)}
              />
            </label>
            <label className="field">
              <span>{t("auth.password")}</span>
              <input
                type="password"
                name="password"
                autoComplete="current-password"
                required
                value={password}
                onChange={(event) => setPassword(event.target.value)}
              />
            </label>
          </>
        )}
        {challenge !== null && (
          <div className="stack" data-testid="two-factor-step">
            <label className="field">
              <span>{recovery ? t("twoFactor.recoveryCode") : t("twoFactor.appCode")}</span>
              <input
                name="code"
                data-testid="two-factor-code"
                autoComplete="one-time-code"
                inputMode={recovery ? "text" : "numeric"}
                dir="ltr"
                required
                autoFocus
                maxLength={recovery ? 32 : 7}
                value={code}
                onChange={(event) => setCode(event.target.value)}
              />
            </label>
            <div className="row">
              <button type="button" className="button ghost small" onClick={() => { setRecovery(!recovery); setCode(""); }}>
                {recovery ? t("twoFactor.useApp") : t("twoFactor.useRecovery")}
              </button>
              <button type="button" className="button ghost small" onClick={() => { setChallenge(null); setRecovery(false); setPassword(""); setError(null); }}>
                {t("twoFactor.startOver")}
              </button>
            </div>
          </div>
        )}
        {error && (
          <p className="alert alert-error" role="alert" data-testid="signin-error">
            {error}
          </p>
        )}
        <button type="submit" className="button primary" disabled={busy}>
          {t("auth.signIn")}
        </button>
      </form>
      <p className="muted">
        {t("auth.noAccount")} <Link to="/register">{t("auth.register")}</Link>
      </p>
    </AuthFrame>
  );
}
