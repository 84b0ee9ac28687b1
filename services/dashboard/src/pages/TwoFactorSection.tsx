import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import {
  ApiError,
  disableTwoFactor,
  enableTwoFactor,
  replaceRecoveryCodes,
  startTwoFactorSetup,
} from "../api/client";
import type { TwoFactorSetup } from "../api/client";
import { saveBlob } from "../api/download";
import { useMe, useSession } from "../session";

type Step =
  | { kind: "idle" }
  | { kind: "password"; purpose: "setup" | "disable" | "codes" }
  | { kind: "scan"; setup: TwoFactorSetup }
  | { kind: "codes"; codes: string[] };

/** Two-factor sign-in with an authenticator app: set up, turn off, new recovery codes. */
export function TwoFactorSection() {
  const { t } = useTranslation();
  const me = useMe();
  const { reload } = useSession();
  const queryClient = useQueryClient();
  // Turning it on or off signs out every other sign-in: the list below shows that.
  const signedOutElsewhere = () => void queryClient.invalidateQueries({ queryKey: ["sign-ins"] });
  const [step, setStep] = useState<Step>({ kind: "idle" });
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const on = me.user.two_factor;
  // Held by the business's policy: the page behind opens once the profile is reloaded, so that
  // waits until the recovery codes were seen.
  const held = me.user.two_factor_setup_required;

  function begin(next: Step) {
    setStep(next);
    setPassword("");
    setCode("");
    setError(null);
    setDone(null);
  }

  function problem(caught: unknown): string {
    if (!(caught instanceof ApiError)) return t("common.error", { message: String(caught) });
    switch (caught.slug) {
      case "invalid-credentials":
        return t("twoFactor.wrongPassword");
      case "invalid-two-factor-code":
        return t("twoFactor.wrongCode");
      case "two-factor-setup-missing":
        return t("twoFactor.setupExpired");
      case "account-locked":
        return t("twoFactor.locked");
      case "two-factor-required-by-business":
        return t("twoFactor.requiredByBusiness");
      default:
        return t("common.error", { message: caught.problem.title ?? caught.message });
    }
  }

  async function run(action: () => Promise<void>) {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (caught) {
      setError(problem(caught));
      if (caught instanceof ApiError && caught.slug === "two-factor-setup-missing") {
        setStep({ kind: "idle" });
      }
    } finally {
      setBusy(false);
    }
  }

  function submitPassword(event: FormEvent, purpose: "setup" | "disable" | "codes") {
    event.preventDefault();
    void run(async () => {
      if (purpose === "setup") {
        const setup = await startTwoFactorSetup(password);
        begin({ kind: "scan", setup });
      } else if (purpose === "disable") {
        await disableTwoFactor(password, code.trim());
        signedOutElsewhere();
        begin({ kind: "idle" });
        setDone(t("twoFactor.turnedOff"));
        await reload();
      } else {
        const codes = await replaceRecoveryCodes(password, code.trim());
        begin({ kind: "codes", codes });
        await reload();
      }
    });
  }

  function confirmApp(event: FormEvent) {
    event.preventDefault();
    void run(async () => {
      const codes = await enableTwoFactor(code.trim());
      signedOutElsewhere();
      begin({ kind: "codes", codes });
      if (!held) await reload();
    });
  }

  const download = (codes: string[]) =>
    saveBlob(
      new Blob([`${t("twoFactor.fileHeading", { email: me.user.email })}\n\n${codes.join("\n")}\n`], {
        type: "text/plain;charset=utf-8",
      }),
      "majlis-recovery-codes.txt",
    );

  return (
    <section className="card stack" data-testid="two-factor">
      <h2>{t("twoFactor.title")}</h2>
      <p className="muted">{t("twoFactor.explain")}</p>
      <p data-testid="two-factor-state">
        <strong>{on ? t("twoFactor.stateOn") : t("twoFactor.stateOff")}</strong>
        {on && me.user.recovery_codes_left !== null && (
          <>
            {" · "}
            <span className={me.user.recovery_codes_left <= 2 ? "alert-warn" : undefined}>
              {t("twoFactor.codesLeft", { count: me.user.recovery_codes_left })}
            </span>
          </>
        )}
      </p>
      {done && <p className="alert alert-ok" role="status">{done}</p>}
      {error && <p className="alert alert-error" role="alert" data-testid="two-factor-error">{error}</p>}

      {step.kind === "idle" && (
        <div className="row">
          {on ? (
            <>
              <button type="button" className="button" onClick={() => begin({ kind: "password", purpose: "codes" })}>
                {t("twoFactor.newCodes")}
              </button>
              <button type="button" className="button danger" onClick={() => begin({ kind: "password", purpose: "disable" })}>
                {t("twoFactor.turnOff")}
              </button>
            </>
          ) : (
            <button type="button" className="button primary" onClick={() => begin({ kind: "password", purpose: "setup" })}>
              {t("twoFactor.setUp")}
            </button>
          )}
        </div>
      )}

      {step.kind === "password" && (
        <form className="stack" onSubmit={(event) => submitPassword(event, step.purpose)}>
          <label className="field">
            <span>{t("twoFactor.passwordAgain")}</span>
            <input type="password" name="two-factor-password" autoComplete="current-password" required autoFocus
              value={password} onChange={(event) => setPassword(event.target.value)} />
          </label>
          {step.purpose !== "setup" && (
            <label className="field">
              <span>{t("twoFactor.codeOrRecovery")}</span>
              <input name="two-factor-code" autoComplete="one-time-code" dir="ltr" required maxLength={32}
                value={code} onChange={(event) => setCode(event.target.value)} />
            </label>
          )}
          <div className="row">
            <button type="submit" className={step.purpose === "disable" ? "button danger" : "button primary"} disabled={busy}>
              {step.purpose === "setup" ? t("twoFactor.continue") : step.purpose === "disable" ? t("twoFactor.turnOff") : t("twoFactor.newCodes")}
            </button>
            <button type="button" className="button ghost" onClick={() => begin({ kind: "idle" })}>{t("common.cancel")}</button>
          </div>
        </form>
      )}

      {step.kind === "scan" && (
        <form className="stack" onSubmit={confirmApp}>
          <p>{t("twoFactor.scan")}</p>
          <img className="two-factor-qr" src={step.setup.qr_code} alt={t("twoFactor.qrAlt")} data-testid="two-factor-qr" />
          <p className="muted">
            {t("twoFactor.typeInstead")}{" "}
            <code className="two-factor-secret" dir="ltr" data-testid="two-factor-secret">{step.setup.secret}</code>
          </p>
          <label className="field">
            <span>{t("twoFactor.appCode")}</span>
            <input name="two-factor-confirm" data-testid="two-factor-confirm" autoComplete="one-time-code" inputMode="numeric"
              dir="ltr" required maxLength={7} autoFocus value={code} onChange={(event) => setCode(event.target.value)} />
          </label>
          <div className="row">
            <button type="submit" className="button primary" disabled={busy}>{t("twoFactor.turnOn")}</button>
            <button type="button" className="button ghost" onClick={() => begin({ kind: "idle" })}>{t("common.cancel")}</button>
          </div>
        </form>
      )}

      {step.kind === "codes" && (
        <div className="stack" data-testid="recovery-codes">
          <p className="alert alert-warn">{t("twoFactor.saveCodes")}</p>
          <ul className="recovery-codes" dir="ltr">
            {step.codes.map((c) => <li key={c}>{c}</li>)}
          </ul>
          <div className="row">
            <button type="button" className="button" onClick={() => download(step.codes)}>{t("twoFactor.download")}</button>
            <button type="button" className="button" onClick={() => void navigator.clipboard?.writeText(step.codes.join("\n"))}>
              {t("twoFactor.copy")}
            </button>
            <button type="button" className="button primary" onClick={() => { begin({ kind: "idle" }); if (held) void reload(); }}>{t("twoFactor.saved")}</button>
          </div>
        </div>
      )}
    </section>
  );
}
