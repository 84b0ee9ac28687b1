// The inbox's data: list, conversation, messages, team, labels; keys shared with live updates.
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/client";
import type {
  ConversationItem,
  ConversationPage,
  Label,
  Message,
  Team,
  User,
  WhatsAppNumber,
} from "../../api/types";

export interface ListFilter {
  assignee: "mine" | "unassigned" | "all";
  status: string;
  label: string;
  number: string;
  q: string;
  team?: string;
}

export const keys = {
  conversations: ["conversations"] as const,
  conversation: (id: string) => ["conversation", id] as const,
  messages: (id: string) => ["messages", id] as const,
  presence: (id: string) => ["presence", id] as const,
};

/** The list's filter as the API's query parameters (the list and its CSV export share them). */
export function listQuery(filter: ListFilter): Record<string, string | undefined> {
  return {
    assignee: { mine: "me", unassigned: "unassigned", all: undefined }[filter.assignee],
    status: filter.status,
    label: filter.label,
    number: filter.number,
    team: filter.team || undefined,
    q: filter.q.trim(),
  };
}

export function useConversations(filter: ListFilter) {
  return useQuery({
    queryKey: [...keys.conversations, filter],
    queryFn: () => api<ConversationPage>("/api/v1/conversations", { query: { ...listQuery(filter), limit: 50 } }),
  });
}

export function useConversation(id: string) {
  return useQuery({
    queryKey: keys.conversation(id),
    queryFn: () =>
      api<ConversationItem & { labels_detail: Label[] }>(`/api/v1/conversations/${id}`),
  });
}

export function useMessages(id: string) {
  return useQuery({
    queryKey: keys.messages(id),
    queryFn: async () => {
      const page = await api<{ items: Message[] }>(`/api/v1/conversations/${id}/messages`, {
        query: { limit: 100 },
      });
      return [...page.items].sort((a, b) => a.seq - b.seq);
    },
    // A file still downloading from Meta shows once stored: look again until it is.
    refetchInterval: (query) => (query.state.data?.some((m) => m.media?.status === "pending") ? 2_000 : false),
  });
}

export function useUsers() {
  return useQuery({
    queryKey: ["users"],
    queryFn: async () => (await api<{ users: User[] }>("/api/v1/users")).users,
    staleTime: 60_000,
  });
}

export function useLabels() {
  return useQuery({
    queryKey: ["labels"],
    queryFn: async () => (await api<{ items: Label[] }>("/api/v1/labels")).items,
    staleTime: 60_000,
  });
}

export function useTeams() {
  return useQuery({
    queryKey: ["teams"],
    queryFn: async () => (await api<{ items: Team[] }>("/api/v1/teams")).items,
    staleTime: 60_000,
  });
}

export function useNumbers() {
  return useQuery({
    queryKey: ["numbers"],
    queryFn: async () => (await api<{ numbers: WhatsAppNumber[] }>("/api/v1/numbers")).numbers,
    staleTime: 60_000,
  });
}

export function userName(users: User[] | undefined, id: string | null): string | null {
  if (id === null) return null;
  return users?.find((u) => u.id === id)?.name ?? null;
}
