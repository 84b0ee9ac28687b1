import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { ErrorNote } from "../components/ErrorNote";
import { formatDateTime, formatNumber } from "../format";

interface SignInItem {
  id: string;
  created_at: string;
  last_used_at: string;
  expires_at: string;
  ip: string | null;
  device: string | null;
  current: boolean;
}

/** Where you are signed in: recognise each sign-in, end the ones you do not. */
export function SignInsSection() {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const signIns = useQuery({
    queryKey: ["sign-ins"],
    queryFn: async () => (await api<{ sessions: SignInItem[] }>("/api/v1/auth/sessions")).sessions,
  });
  const refresh = () => void queryClient.invalidateQueries({ queryKey: ["sign-ins"] });
  const end = useMutation({
    mutationFn: (id: string) => api(`/api/v1/auth/sessions/${id}`, { method: "DELETE" }),
    onSuccess: refresh,
  });
  const endOthers = useMutation({
    mutationFn: () => api<{ ended: number }>("/api/v1/auth/sessions/end-others", { method: "POST" }),
    onSuccess: refresh,
  });
  const others = (signIns.data ?? []).filter((s) => !s.current).length;

  return (
    <section className="card stack" data-testid="sign-ins">
      <h2>{t("signIns.title")}</h2>
      <p className="muted">{t("signIns.explain")}</p>
      <ErrorNote error={signIns.error ?? end.error ?? endOthers.error} />
      {endOthers.data && (
        <p className="alert alert-ok" role="status">
          {t("signIns.endedOthers", { count: formatNumber(endOthers.data.ended) })}
        </p>
      )}
      <ul className="sign-ins">
        {signIns.data?.map((s) => (
          <li key={s.id} className="row" data-testid="sign-in">
            <div className="grow">
              <strong>{s.device ?? t("signIns.unknownDevice")}</strong>
              {s.current && <span className="badge badge-live sign-in-here">{t("signIns.thisDevice")}</span>}
              <div className="muted small">
                {t("signIns.lastActive", { time: formatDateTime(s.last_used_at) })}
                {s.ip && (
                  <>
                    {" · "}
                    <bdi dir="ltr">{s.ip}</bdi>
                  </>
                )}
                {" · "}
                {t("signIns.since", { time: formatDateTime(s.created_at) })}
              </div>
            </div>
            {!s.current && (
              <button type="button" className="button small" disabled={end.isPending} onClick={() => end.mutate(s.id)}>
                {t("signIns.signOut")}
              </button>
            )}
          </li>
        ))}
      </ul>
      {others > 0 && (
        <div className="row">
          <button type="button" className="button danger" disabled={endOthers.isPending} onClick={() => endOthers.mutate()}>
            {t("signIns.signOutOthers")}
          </button>
        </div>
      )}
    </section>
  );
}
