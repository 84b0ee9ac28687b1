import { useTranslation } from "react-i18next";
import { useSession } from "../session";
import { AuthFrame } from "./AuthFrame";
import { TwoFactorSection } from "./TwoFactorSection";

/** What a member sees while the business requires two-factor sign-in they have not set up. */
export function TwoFactorRequired() {
  const { t } = useTranslation();
  const { signOut } = useSession();
  return (
    <AuthFrame title={t("twoFactor.requiredTitle")}>
      <p className="alert alert-warn" data-testid="two-factor-required">
        {t("twoFactor.requiredExplain")}
      </p>
      <TwoFactorSection />
      <button type="button" className="button ghost" onClick={() => void signOut()}>
        {t("nav.signOut")}
      </button>
    </AuthFrame>
  );
}
