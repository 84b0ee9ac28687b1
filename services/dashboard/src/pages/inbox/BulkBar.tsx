// Bulk actions on the conversations picked in the list: resolve, reopen, assign or label many
// at once (one call, all or nothing: a refusal for one changes none, and says which).
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { CheckCheck, RotateCcw, X } from "lucide-react";
import { useTranslation } from "react-i18next";
import { api } from "../../api/client";
import { ErrorNote } from "../../components/ErrorNote";
import { formatNumber } from "../../format";
import { keys, useLabels, useUsers } from "./queries";

/** The most a bulk change takes at once (the API's limit). */
export const MAX_PICK = 100;

export function BulkBar({
  picked,
  shown,
  onPick,
  onDone,
}: {
  picked: string[];
  shown: string[];
  onPick: (ids: string[]) => void;
  onDone: () => void;
}) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const users = useUsers();
  const labels = useLabels();
  const change = useMutation({
    mutationFn: (json: Record<string, unknown>) =>
      api("/api/v1/conversations/bulk", { method: "POST", json: { conversation_ids: picked, ...json } }),
    onSuccess: () => {
      onDone();
      void queryClient.invalidateQueries({ queryKey: keys.conversations });
    },
  });

  return (
    <div className="bulk-bar" role="region" aria-label={t("inbox.bulk.title")} data-testid="bulk-bar">
      <div className="bulk-row">
        <strong>{t("inbox.bulk.picked", { n: formatNumber(picked.length) })}</strong>
        {shown.some((id) => !picked.includes(id)) && (
          <button type="button" className="button ghost small" onClick={() => onPick(shown.slice(0, MAX_PICK))}>
            {t("inbox.bulk.pickShown", { n: formatNumber(Math.min(shown.length, MAX_PICK)) })}
          </button>
        )}
        <button type="button" className="button ghost small" onClick={onDone} aria-label={t("inbox.bulk.clear")} title={t("inbox.bulk.clear")}>
          <X size={14} aria-hidden="true" />
        </button>
      </div>
      <div className="bulk-row">
        <button type="button" className="button small" disabled={change.isPending} onClick={() => change.mutate({ status: { status: "resolved" } })}>
          <CheckCheck size={14} aria-hidden="true" /> {t("inbox.bulk.resolve")}
        </button>
        <button type="button" className="button small" disabled={change.isPending} onClick={() => change.mutate({ status: { status: "open" } })}>
          <RotateCcw size={14} aria-hidden="true" /> {t("inbox.bulk.reopen")}
        </button>
        <select
          aria-label={t("inbox.bulk.assign")}
          value=""
          disabled={change.isPending}
          onChange={(event) => {
            const value = event.target.value;
            if (value) change.mutate({ assign: { user_id: value === "none" ? null : value } });
          }}
        >
          <option value="">{t("inbox.bulk.assign")}</option>
          <option value="none">{t("inbox.unassignedLabel")}</option>
          {users.data?.filter((u) => u.is_active && u.role !== "viewer").map((u) => (
            <option key={u.id} value={u.id}>{u.name}</option>
          ))}
        </select>
        {(labels.data?.length ?? 0) > 0 && (
          <select
            aria-label={t("inbox.bulk.label")}
            value=""
            disabled={change.isPending}
            onChange={(event) => {
              if (event.target.value) change.mutate({ add_label_ids: [event.target.value] });
            }}
          >
            <option value="">{t("inbox.bulk.label")}</option>
            {labels.data?.map((label) => (
              <option key={label.id} value={label.id}>{label.name}</option>
            ))}
          </select>
        )}
      </div>
      <ErrorNote error={change.error} />
    </div>
  );
}
