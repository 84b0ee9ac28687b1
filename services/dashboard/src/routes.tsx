import { useTranslation } from "react-i18next";
import { Navigate, Route, Routes, useLocation } from "react-router";
import { Layout } from "./components/Layout";
import { AcceptInvite } from "./pages/AcceptInvite";
import { Analytics } from "./pages/Analytics";
import { Ai } from "./pages/Ai";
import { Audit } from "./pages/Audit";
import { CampaignPage } from "./pages/campaigns/CampaignPage";
import { Campaigns } from "./pages/campaigns/Campaigns";
import { ChangePassword } from "./pages/ChangePassword";
import { Contacts } from "./pages/Contacts";
import { FlowEditor } from "./pages/flows/FlowEditor";
import { Flows } from "./pages/flows/Flows";
import { Inbox } from "./pages/inbox/Inbox";
import { Integrations } from "./pages/Integrations";
import { Leads } from "./pages/Leads";
import { Register } from "./pages/Register";
import { Settings } from "./pages/Settings";
import { SignIn } from "./pages/SignIn";
import { Team } from "./pages/Team";
import { Templates } from "./pages/Templates";
import { TwoFactorRequired } from "./pages/TwoFactorRequired";
import { useSession } from "./session";

function RequireSession({ children }: { children: React.ReactNode }) {
  const { me } = useSession();
  const location = useLocation();
  if (me === null) return <Navigate to="/signin" replace state={{ from: location.pathname }} />;
  // The business requires two-factor sign-in and this user has none: set it up first.
  if (me.user.two_factor_setup_required) return <TwoFactorRequired />;
  return <>{children}</>;
}

export function AppRoutes() {
  const { ready } = useSession();
  const { t } = useTranslation();
  if (!ready) {
    return (
      <div className="splash" role="status">
        {t("app.loading")}
      </div>
    );
  }
  return (
    <Routes>
      <Route path="/signin" element={<SignIn />} />
      <Route path="/register" element={<Register />} />
      <Route path="/invite" element={<AcceptInvite />} />
      <Route
        element={
          <RequireSession>
            <Layout />
          </RequireSession>
        }
      >
        <Route index element={<Navigate to="/inbox" replace />} />
        <Route path="/inbox" element={<Inbox />} />
        <Route path="/inbox/:conversationId" element={<Inbox />} />
        <Route path="/contacts" element={<Contacts />} />
        <Route path="/contacts/:contactId" element={<Contacts />} />
        <Route path="/flows" element={<Flows />} />
        <Route path="/flows/:flowId" element={<FlowEditor />} />
        <Route path="/templates" element={<Templates />} />
        <Route path="/campaigns" element={<Campaigns />} />
        <Route path="/campaigns/:campaignId" element={<CampaignPage />} />
        <Route path="/leads" element={<Leads />} />
        <Route path="/ai" element={<Ai />} />
        <Route path="/audit" element={<Audit />} />
        <Route path="/analytics" element={<Analytics />} />
        <Route path="/integrations" element={<Integrations />} />
        <Route path="/team" element={<Team />} />
        <Route path="/settings" element={<Settings />} />
        <Route path="/password" element={<ChangePassword />} />
      </Route>
      <Route path="*" element={<Navigate to="/" replace />} />
    </Routes>
  );
}
