import { useTranslation } from "react-i18next";
import { ApiError } from "../api/client";

/** A failed call, said in the user's language where we know the problem type. */
export function ErrorNote({ error }: { error: unknown }) {
  const { t } = useTranslation();
  if (!error) return null;
  let message: string;
  if (error instanceof ApiError && error.status === 403) message = t("common.forbidden");
  else if (error instanceof ApiError && error.status === 404) message = t("common.notFound");
  else if (error instanceof ApiError) {
    const details = (error.problem.errors ?? []).map((e) => `${e.field}: ${e.message}`);
    message = [error.problem.title ?? error.message, error.problem.detail, ...details]
      .filter(Boolean)
      .join(" — ");
  } else message = error instanceof Error ? error.message : String(error);
  return (
    <p className="alert alert-error" role="alert">
      {t("common.error", { message })}
    </p>
  );
}
