// Settings → business hours and time zone (GET/PUT /api/v1/settings/business-hours).
// Every role reads them; owners and admins change them. Times are wall-clock times of the
// chosen IANA zone; a day without ranges is closed; holidays have no working time at all.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Plus, Trash2 } from "lucide-react";
import { useEffect, useMemo, useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import type { BusinessHours } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { locale } from "../i18n";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
type Day = (typeof DAYS)[number];
type Weekly = Record<Day, [string, string][]>;
const KEY = ["business-hours"];
const DEFAULT_RANGE: [string, string] = ["09:00", "17:00"];

function zones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (key: string) => string[] };
  try {
    return intl.supportedValuesOf?.("timeZone") ?? [];
  } catch {
    return [];
  }
}

function full(weekly: BusinessHours["weekly"]): Weekly {
  return Object.fromEntries(DAYS.map((day) => [day, (weekly[day] ?? []).map(([a, b]) => [a, b])])) as Weekly;
}

/** "24:00" ends a day in the API; a time input cannot show it, so it edits as 23:59. */
const toInput = (value: string) => (value === "24:00" ? "23:59" : value);
const fromInput = (value: string) => (value === "23:59" ? "24:00" : value);

export function BusinessHoursEditor({ manager }: { manager: boolean }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const hours = useQuery({ queryKey: KEY, queryFn: () => api<BusinessHours>("/api/v1/settings/business-hours") });
  const [zone, setZone] = useState("");
  const [weekly, setWeekly] = useState<Weekly | null>(null);
  const [holidays, setHolidays] = useState<string[]>([]);
  const [holiday, setHoliday] = useState("");
  const [saved, setSaved] = useState(false);
  const zoneList = useMemo(zones, []);

  useEffect(() => {
    if (!hours.data) return;
    setZone(hours.data.timezone);
    setWeekly(full(hours.data.weekly));
    setHolidays([...hours.data.holidays]);
  }, [hours.data]);

  const save = useMutation({
    mutationFn: (body: BusinessHours) => api<BusinessHours>("/api/v1/settings/business-hours", { method: "PUT", json: body }),
    onSuccess: (stored) => {
      queryClient.setQueryData(KEY, stored);
      setSaved(true);
    },
  });

  if (!weekly) return <section className="card stack" aria-busy="true"><h2>{t("hours.title")}</h2><ErrorNote error={hours.error} /></section>;

  const dayName = (day: Day) => {
    // 2024-01-01 was a Monday: weekday names in the user's language.
    const date = new Date(Date.UTC(2024, 0, 1 + DAYS.indexOf(day)));
    return new Intl.DateTimeFormat(locale(), { weekday: "long", timeZone: "UTC" }).format(date);
  };
  const change = (day: Day, ranges: [string, string][]) => {
    setSaved(false);
    setWeekly({ ...weekly, [day]: ranges });
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const body: BusinessHours = {
      timezone: zone.trim(),
      weekly: Object.fromEntries(DAYS.map((day) => [day, weekly[day].map(([a, b]) => [a, fromInput(b)] as [string, string])])),
      holidays: [...holidays].sort(),
    };
    save.mutate(body);
  };

  return (
    <section className="card stack" data-testid="business-hours">
      <h2>{t("hours.title")}</h2>
      <p className="muted small">{hours.data?.is_default ? t("hours.defaultHint") : t("hours.hint")}</p>
      <form className="stack hours-form" onSubmit={submit}>
        <label className="field">
          <span>{t("hours.timezone")}</span>
          <input
            name="timezone"
            list="timezones"
            dir="ltr"
            required
            disabled={!manager}
            value={zone}
            onChange={(event) => { setSaved(false); setZone(event.target.value); }}
          />
          <datalist id="timezones">{zoneList.map((name) => <option key={name} value={name} />)}</datalist>
        </label>
        <table className="table hours-table">
          <thead><tr><th>{t("hours.day")}</th><th>{t("hours.open")}</th><th>{t("hours.ranges")}</th></tr></thead>
          <tbody>
            {DAYS.map((day) => {
              const ranges = weekly[day];
              return (
                <tr key={day} data-day={day}>
                  <th scope="row">{dayName(day)}</th>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={t("hours.openOn", { day: dayName(day) })}
                      checked={ranges.length > 0}
                      disabled={!manager}
                      onChange={(event) => change(day, event.target.checked ? [DEFAULT_RANGE] : [])}
                    />
                  </td>
                  <td>
                    {ranges.length === 0 && <span className="muted">{t("hours.closed")}</span>}
                    {ranges.map(([start, end], index) => (
                      <span key={index} className="range row">
                        <input
                          type="time"
                          dir="ltr"
                          aria-label={t("hours.from", { day: dayName(day), n: index + 1 })}
                          value={start}
                          required
                          disabled={!manager}
                          onChange={(event) => change(day, ranges.map((r, i) => (i === index ? [event.target.value, r[1]] : r)))}
                        />
                        <span aria-hidden="true">–</span>
                        <input
                          type="time"
                          dir="ltr"
                          aria-label={t("hours.to", { day: dayName(day), n: index + 1 })}
                          value={toInput(end)}
                          required
                          disabled={!manager}
                          onChange={(event) => change(day, ranges.map((r, i) => (i === index ? [r[0], event.target.value] : r)))}
                        />
                        {manager && (
                          <button type="button" className="button ghost small" aria-label={t("hours.removeRange")} onClick={() => change(day, ranges.filter((_, i) => i !== index))}>
                            <Trash2 size={14} aria-hidden="true" />
                          </button>
                        )}
                      </span>
                    ))}
                    {manager && ranges.length > 0 && ranges.length < 8 && (
                      <button type="button" className="button ghost small" onClick={() => change(day, [...ranges, ["18:00", "20:00"]])}>
                        <Plus size={14} aria-hidden="true" /> {t("hours.addRange")}
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
        <fieldset className="stack">
          <legend>{t("hours.holidays")}</legend>
          {holidays.length === 0 && <p className="muted small">{t("hours.noHolidays")}</p>}
          <ul className="chips" data-testid="holidays">
            {[...holidays].sort().map((day) => (
              <li key={day} className="label-chip">
                <time dateTime={day}>{new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeZone: "UTC" }).format(new Date(`${day}T00:00:00Z`))}</time>
                {manager && (
                  <button type="button" className="button ghost small" aria-label={t("hours.removeHoliday")} onClick={() => { setSaved(false); setHolidays(holidays.filter((h) => h !== day)); }}>
                    <Trash2 size={12} aria-hidden="true" />
                  </button>
                )}
              </li>
            ))}
          </ul>
          {manager && (
            <div className="row">
              <label className="visually-hidden" htmlFor="holiday-date">{t("hours.holidayDate")}</label>
              <input id="holiday-date" type="date" dir="ltr" value={holiday} onChange={(event) => setHoliday(event.target.value)} />
              <button
                type="button"
                className="button small"
                disabled={!holiday || holidays.includes(holiday)}
                onClick={() => { setSaved(false); setHolidays([...holidays, holiday]); setHoliday(""); }}
              >
                <Plus size={14} aria-hidden="true" /> {t("hours.addHoliday")}
              </button>
            </div>
          )}
        </fieldset>
        <ErrorNote error={save.error} />
        {saved && <p className="alert alert-ok" role="status" data-testid="hours-saved">{t("hours.saved")}</p>}
        {manager && <button type="submit" className="button primary" disabled={save.isPending}>{t("common.save")}</button>}
      </form>
    </section>
  );
}
