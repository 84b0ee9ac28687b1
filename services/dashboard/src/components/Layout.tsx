import { useMutation } from "@tanstack/react-query";
import { Bot } from "lucide-react";
import { Contact, FileText, ScrollText, Inbox, KeyRound, Languages, LogOut, Settings, Target, Users, Workflow } from "lucide-react";
import { Megaphone } from "lucide-react";
import { ChartColumn, Webhook } from "lucide-react";
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { NavLink, Outlet } from "react-router";
import { api } from "../api/client";
import { isStreamConnected, onStreamState } from "../api/stream";
import { arabicDigits, setArabicDigits, setLanguage } from "../i18n";
import { isManager, useMe, useSession } from "../session";

type PresenceStatus = "online" | "away";

function PresenceToggle() {
  const { t } = useTranslation();
  const [status, setStatus] = useState<PresenceStatus>("online");
  const change = useMutation({
    mutationFn: (next: PresenceStatus) =>
      api("/api/v1/me/presence", { method: "PUT", json: { status: next } }),
    onSuccess: (_data, next) => setStatus(next),
  });
  return (
    <label className="presence">
      <span className={`dot dot-${status}`} aria-hidden="true" />
      <span className="visually-hidden">{t("presence.label")}</span>
      <select
        value={status}
        onChange={(event) => change.mutate(event.target.value as PresenceStatus)}
        aria-label={t("presence.label")}
      >
        <option value="online">{t("presence.online")}</option>
        <option value="away">{t("presence.away")}</option>
      </select>
    </label>
  );
}

function StreamBadge() {
  const { t } = useTranslation();
  const [connected, setConnected] = useState(isStreamConnected);
  useEffect(() => onStreamState(setConnected), []);
  return (
    <span className={connected ? "badge badge-live" : "badge badge-muted"} role="status">
      {connected ? t("app.live") : t("app.offline")}
    </span>
  );
}

export function Layout() {
  const { t, i18n } = useTranslation();
  const me = useMe();
  const { signOut } = useSession();
  const items = [
    { to: "/inbox", label: t("nav.inbox"), icon: Inbox },
    { to: "/contacts", label: t("nav.contacts"), icon: Contact },
    { to: "/flows", label: t("nav.flows"), icon: Workflow },
    { to: "/templates", label: t("nav.templates"), icon: FileText },
    { to: "/campaigns", label: t("campaigns.nav"), icon: Megaphone },
    { to: "/leads", label: t("nav.leads"), icon: Target },
    { to: "/analytics", label: t("analytics.title"), icon: ChartColumn },
    { to: "/ai", label: t("ai.nav"), icon: Bot },
    { to: "/team", label: t("nav.team"), icon: Users },
    ...(isManager(me.user.role) ? [{ to: "/audit", label: t("nav.audit"), icon: ScrollText }] : []),
    ...(isManager(me.user.role) ? [{ to: "/integrations", label: t("integrations.title"), icon: Webhook }] : []),
    { to: "/settings", label: t("nav.settings"), icon: Settings },
  ];
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        {t("app.skip")}
      </a>
      <nav className="sidebar" aria-label={t("nav.main")}>
        <div className="brand">
          <span className="brand-mark" aria-hidden="true">
            م
          </span>
          <span className="brand-name">{t("app.name")}</span>
        </div>
        <ul>
          {items.map(({ to, label, icon: Icon }) => (
            <li key={to}>
              <NavLink to={to} className="nav-link">
                <Icon size={18} aria-hidden="true" />
                <span>{label}</span>
              </NavLink>
            </li>
          ))}
        </ul>
        <div className="sidebar-foot">
          <NavLink to="/password" className="nav-link">
            <KeyRound size={18} aria-hidden="true" />
            <span>{t("nav.password")}</span>
          </NavLink>
          <button type="button" className="nav-link" onClick={() => void signOut()}>
            <LogOut size={18} aria-hidden="true" />
            <span>{t("nav.signOut")}</span>
          </button>
        </div>
      </nav>
      <div className="workspace">
        <header className="topbar">
          <div className="tenant">
            <strong>{me.tenant.name}</strong>
            <span className="muted">
              {me.user.name} · {t(`team.roles.${me.user.role}`)}
            </span>
          </div>
          <div className="topbar-actions">
            <StreamBadge />
            {me.user.role !== "viewer" && <PresenceToggle />}
            {i18n.language === "ar" && (
              <label className="check">
                <input
                  type="checkbox"
                  defaultChecked={arabicDigits()}
                  onChange={(event) => setArabicDigits(event.target.checked)}
                />
                {t("nav.digits")}
              </label>
            )}
            <button
              type="button"
              className="button ghost"
              lang={i18n.language === "ar" ? "en" : "ar"}
              aria-label={t("nav.languageLabel")}
              data-testid="language-switch"
              onClick={() => setLanguage(i18n.language === "ar" ? "en" : "ar")}
            >
              <Languages size={16} aria-hidden="true" />
              {t("nav.language")}
            </button>
          </div>
        </header>
        <main id="main" tabIndex={-1}>
          <Outlet />
        </main>
      </div>
    </div>
  );
}
