// The live stream: one WebSocket per tab, authenticated by its first frame (the token never
// travels in the URL), reconnecting with backoff; listeners get every event frame.
import { currentToken, onToken, refreshSession } from "./client";
import type { StreamEvent } from "./types";

type Listener = (event: StreamEvent) => void;
type StateListener = (connected: boolean) => void;

const listeners = new Set<Listener>();
const stateListeners = new Set<StateListener>();
let socket: WebSocket | null = null;
let wanted = false;
let attempts = 0;
let retryTimer: number | undefined;

let connected = false;

function announce(now: boolean): void {
  connected = now;
  stateListeners.forEach((listener) => listener(now));
}

export function isStreamConnected(): boolean {
  return connected;
}

async function open(): Promise<void> {
  if (!wanted || socket !== null) return;
  if (currentToken() === null && !(await refreshSession())) return;
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${window.location.host}/api/v1/stream`);
  socket = ws;
  ws.addEventListener("open", () => {
    ws.send(JSON.stringify({ type: "auth", token: currentToken() }));
  });
  ws.addEventListener("message", (message: MessageEvent<string>) => {
    let frame: { type?: string };
    try {
      frame = JSON.parse(message.data) as { type?: string };
    } catch {
      return;
    }
    if (frame.type === "ready" || frame.type === "authenticated") {
      attempts = 0;
      announce(true);
    } else if (frame.type === "ping") {
      ws.send(JSON.stringify({ type: "pong" }));
    } else if (frame.type === "event") {
      attempts = 0;
      listeners.forEach((listener) => listener(frame as StreamEvent));
    }
  });
  ws.addEventListener("close", () => {
    socket = null;
    announce(false);
    if (!wanted) return;
    attempts += 1;
    const delay = Math.min(30_000, 500 * 2 ** Math.min(attempts, 6)) * (0.5 + Math.random());
    retryTimer = window.setTimeout(() => void open(), delay);
  });
}

// The server closes a stream when its token expires: hand it each renewed one in time.
onToken((token) => {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "auth", token }));
});

export function startStream(): void {
  wanted = true;
  void open();
}

export function stopStream(): void {
  wanted = false;
  window.clearTimeout(retryTimer);
  socket?.close(1000);
  socket = null;
}

/** Tell the team this user views, types in or left a conversation. */
export function sendPresence(type: "viewing" | "typing" | "left", conversationId: string): void {
  if (socket?.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify({ type, conversation_id: conversationId }));
  }
}

export function onStreamEvent(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function onStreamState(listener: StateListener): () => void {
  stateListeners.add(listener);
  return () => stateListeners.delete(listener);
}
