import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { ApiError, api } from "../api/client";
import { ErrorNote } from "../components/ErrorNote";
import { formatNumber } from "../format";
import { useMe } from "../session";

interface SecuritySettings {
  require_two_factor: boolean;
  members_without_two_factor: number;
}

/** The business's sign-in policy: owners and admins see it, owners change it. */
export function SignInPolicy() {
  const { t } = useTranslation();
  const me = useMe();
  const queryClient = useQueryClient();
  const policy = useQuery({
    queryKey: ["settings", "security"],
    queryFn: () => api<SecuritySettings>("/api/v1/settings/security"),
  });
  const change = useMutation({
    mutationFn: (require: boolean) =>
      api<SecuritySettings>("/api/v1/settings/security", { method: "PUT", json: { require_two_factor: require } }),
    onSuccess: (answer) => {
      queryClient.setQueryData(["settings", "security"], answer);
      void queryClient.invalidateQueries({ queryKey: ["users"] });
    },
  });
  const ownFirst = change.error instanceof ApiError && change.error.slug === "two-factor-off";
  const owner = me.user.role === "owner";
  return (
    <section className="card stack" data-testid="sign-in-policy">
      <h2>{t("twoFactor.policyTitle")}</h2>
      {policy.data && (
        <>
          <label className="row">
            <input
              type="checkbox"
              data-testid="require-two-factor"
              checked={policy.data.require_two_factor}
              disabled={!owner || change.isPending}
              onChange={(event) => change.mutate(event.target.checked)}
            />
            <span>{t("twoFactor.requireLabel")}</span>
          </label>
          <p className="muted small">{t("twoFactor.requireHelp")}</p>
          <p data-testid="members-without-two-factor">
            {t("twoFactor.withoutCount", { count: formatNumber(policy.data.members_without_two_factor) })}
          </p>
        </>
      )}
      {ownFirst ? (
        <p className="alert alert-error" role="alert">{t("twoFactor.ownFirst")}</p>
      ) : (
        <ErrorNote error={policy.error ?? change.error} />
      )}
    </section>
  );
}
