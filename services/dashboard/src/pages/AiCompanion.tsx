// The owner's companion: register a personal WhatsApp number (a one-time code is sent to it
// from a business number: with its approved Authentication template if it has one, else as free
// text, which arrives only inside the 24-hour window, as the page then says), confirm the code,
// see the status (the API shows a masked number only), remove it. Owners only; the API refuses
// everyone else.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { ApiError, api } from "../api/client";
import type { WhatsAppNumber } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { formatDateTime, formatNumber } from "../format";

interface CompanionStatus {
  status: "none" | "pending" | "verified";
  phone_hint?: string;
  number_id?: string;
  code_expires_at?: string | null;
  // Only in the answer to a registration: how the code went out.
  code_delivery?: { via: "template"; template: string; language: string } | { via: "text"; hint: string };
}

export function Companion({ numbers }: { numbers: WhatsAppNumber[] }) {
  const { t, i18n } = useTranslation();
  const queryClient = useQueryClient();
  const companion = useQuery({ queryKey: ["companion"], queryFn: () => api<CompanionStatus>("/api/v1/companion") });
  const [phone, setPhone] = useState("");
  const [numberId, setNumberId] = useState("");
  const [code, setCode] = useState("");
  const [again, setAgain] = useState(false);
  const show = (next: CompanionStatus) => queryClient.setQueryData(["companion"], next);
  const register = useMutation({
    mutationFn: () => api<CompanionStatus>("/api/v1/companion", { method: "PUT", json: { phone, number_id: numberId || numbers[0]?.id, language: i18n.language === "ar" ? "ar" : "en" } }),
    onSuccess: (next) => { setPhone(""); setAgain(false); setCode(""); show(next); },
  });
  const verify = useMutation({
    mutationFn: () => api<CompanionStatus>("/api/v1/companion/verify", { method: "POST", json: { code } }),
    onSuccess: (next) => { setCode(""); show(next); },
  });
  const remove = useMutation({
    mutationFn: () => api("/api/v1/companion", { method: "DELETE" }),
    onSuccess: () => show({ status: "none" }),
  });
  const current = companion.data;
  const failure = verify.error instanceof ApiError ? verify.error : null;
  const wrong = failure?.slug === "wrong-code";
  const expired = failure?.slug === "code-expired";
  const registering = current?.status === "none" || again;
  return (
    <section className="card stack" aria-labelledby="companion-title" data-testid="companion">
      <h2 id="companion-title">{t("ai.companion")}</h2>
      <p className="muted small">{t("ai.companionHint")}</p>
      <ErrorNote error={companion.error ?? remove.error} />
      {current && current.status !== "none" && (
        <p data-testid="companion-status">
          <span className={`status-chip ${current.status === "verified" ? "status-approved" : "status-pending"}`}>{t(`ai.companionStatus.${current.status}`)}</span>{" "}
          <bdi dir="ltr">{current.phone_hint}</bdi>
        </p>
      )}
      {current?.status === "pending" && !again && (
        <form className="row" onSubmit={(e: FormEvent) => { e.preventDefault(); verify.mutate(); }}>
          <label className="field"><span>{t("ai.code")}</span>
            <input inputMode="numeric" pattern="[0-9]{6}" maxLength={6} required dir="ltr" autoComplete="one-time-code" value={code}
              data-testid="companion-code" onChange={(e) => setCode(e.target.value.replace(/\D/g, ""))} /></label>
          <button type="submit" className="button primary" disabled={verify.isPending} data-testid="companion-verify">{t("ai.confirmCode")}</button>
          {current.code_expires_at && <span className="muted small">{t("ai.codeExpires", { when: formatDateTime(current.code_expires_at) })}</span>}
        </form>
      )}
      {current?.status === "pending" && !again && register.data?.code_delivery && (
        register.data.code_delivery.via === "text"
          ? <p className="alert alert-warn" data-testid="companion-delivery-hint">{t("ai.deliveryText")}</p>
          : <p className="muted small" data-testid="companion-delivery-template">{t("ai.deliveryTemplate", { name: register.data.code_delivery.template })}</p>
      )}
      {wrong && <p className="alert alert-error" role="alert" data-testid="companion-wrong">{t("ai.wrongCode", { n: formatNumber(Number(failure?.problem.attempts_left ?? 0)) })}</p>}
      {expired && <p className="alert alert-error" role="alert">{t("ai.codeExpired")}</p>}
      {verify.error && !wrong && !expired && <ErrorNote error={verify.error} />}
      {registering ? (
        numbers.length === 0 ? <p className="alert alert-warn">{t("ai.needNumber")}</p> : (
          <form className="grid-form" data-testid="companion-form" onSubmit={(e: FormEvent) => { e.preventDefault(); register.mutate(); }}>
            <label className="field"><span>{t("ai.ownerPhone")}</span>
              <input type="tel" dir="ltr" required minLength={5} maxLength={40} autoComplete="tel" placeholder="+971 50 123 4567" value={phone}
                data-testid="companion-phone" onChange={(e) => setPhone(e.target.value)} /></label>
            <label className="field"><span>{t("ai.sendFrom")}</span>
              <select value={numberId || numbers[0]?.id} data-testid="companion-number" onChange={(e) => setNumberId(e.target.value)}>
                {numbers.map((n) => <option key={n.id} value={n.id} dir="ltr">{n.display_number}</option>)}
              </select></label>
            <p className="muted small">{t("ai.windowHint")}</p>
            <ErrorNote error={register.error} />
            <div className="row">
              <button type="submit" className="button primary" disabled={register.isPending} data-testid="companion-register">{t("ai.sendCode")}</button>
              {again && <button type="button" className="button ghost" onClick={() => setAgain(false)}>{t("common.cancel")}</button>}
            </div>
          </form>
        )
      ) : current && (
        <div className="row">
          <button type="button" className="button small" data-testid="companion-again" onClick={() => setAgain(true)}>{current.status === "pending" ? t("ai.newCode") : t("ai.changeNumber")}</button>
          <button type="button" className="button small" data-testid="companion-remove" disabled={remove.isPending} onClick={() => remove.mutate()}>{t("ai.removeCompanion")}</button>
        </div>
      )}
    </section>
  );
}
