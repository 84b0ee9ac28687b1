// Who is signed in: restored on load from the refresh cookie, cleared on sign-out anywhere.
import { useQueryClient } from "@tanstack/react-query";
import { createContext, useCallback, useContext, useEffect, useMemo, useState } from "react";
import type { ReactNode } from "react";
import { api, onSignedOut, refreshSession, signIn, signInWithCode, signOut } from "./api/client";
import type { SignedOutReason } from "./api/client";
import { startStream, stopStream } from "./api/stream";
import type { Me, Role } from "./api/types";

interface SessionValue {
  me: Me | null;
  ready: boolean;
  endedReason: SignedOutReason | null;
  signIn: (email: string, password: string) => Promise<void>;
  signInWithCode: (twoFactorToken: string, code: string) => Promise<void>;
  signOut: () => Promise<void>;
  reload: () => Promise<void>;
}

const SessionContext = createContext<SessionValue | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [me, setMe] = useState<Me | null>(null);
  const [ready, setReady] = useState(false);
  const [endedReason, setEndedReason] = useState<SignedOutReason | null>(null);

  const load = useCallback(async () => {
    const profile = await api<Me>("/api/v1/me");
    setMe(profile);
    setEndedReason(null);
    // A sign-in held to set up two-factor sign-in may not stream (nor do anything else).
    if (profile.user.two_factor_setup_required) stopStream();
    else startStream();
  }, []);

  useEffect(() => {
    let cancelled = false;
    void (async () => {
      try {
        if (await refreshSession()) await load();
      } catch {
        // no session: the sign-in screen shows
      } finally {
        if (!cancelled) setReady(true);
      }
    })();
    const stop = onSignedOut((reason) => {
      stopStream();
      queryClient.clear();
      setMe(null);
      setEndedReason(reason);
    });
    return () => {
      cancelled = true;
      stop();
    };
  }, [load, queryClient]);

  const value = useMemo<SessionValue>(
    () => ({
      me,
      ready,
      endedReason,
      signIn: async (email, password) => {
        await signIn(email, password);
        await load();
      },
      signInWithCode: async (twoFactorToken, code) => {
        await signInWithCode(twoFactorToken, code);
        await load();
      },
      signOut: async () => {
        await signOut();
      },
      reload: load,
    }),
    [me, ready, endedReason, load],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionValue {
  const value = useContext(SessionContext);
  if (value === null) throw new Error("useSession outside SessionProvider");
  return value;
}

export function useMe(): Me {
  const { me } = useSession();
  if (me === null) throw new Error("useMe needs a signed-in user");
  return me;
}

export function isManager(role: Role): boolean {
  return role === "owner" || role === "admin";
}

export function canWork(role: Role): boolean {
  return role !== "viewer";
}
