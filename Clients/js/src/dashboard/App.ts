import { createElement as h, useCallback, useEffect, useMemo, useState, type FormEvent } from "react";
import { SwitchboardProvider, useSwitchboard } from "../react";
import { Switchboard } from "../Switchboard";
import { AdminAPI, AdminAPIError, adminAuthorization, basicCredentials } from "./AdminAPI";
import { CollaborationView } from "./CollaborationView";
import { OperatorView } from "./OperatorView";

/** What the operator typed once: kept in sessionStorage (this tab only, gone when it closes). */
interface Login {
  /** The `Authorization` header for `/api`: the API key or an admin token (Bearer), or an admin user (Basic). */
  authorization: string;
  /** The API key or admin token as typed ("" for a user and password): an admin JWT also opens `/ws`. */
  credential: string;
  /** A user's token for the WebSocket connection (the collaboration view acts as this user). */
  userToken: string;
}

const STORAGE = {
  authorization: "switchboard.dashboard.authorization",
  credential: "switchboard.dashboard.credential",
  userToken: "switchboard.dashboard.userToken",
  toasts: "switchboard.dashboard.toastChannel",
};

function storedLogin(): Login | undefined {
  const authorization = sessionStorage.getItem(STORAGE.authorization);
  if (authorization === null) return undefined;
  return { authorization, credential: sessionStorage.getItem(STORAGE.credential) ?? "", userToken: sessionStorage.getItem(STORAGE.userToken) ?? "" };
}

/** The dashboard: a login, then the status bar, toasts and the operator / collaboration views. */
export function App() {
  const [login, setLogin] = useState<Login | undefined>(storedLogin);
  const [refusal, setRefusal] = useState<string | undefined>(undefined);
  const logout = useCallback((why?: string) => {
    sessionStorage.removeItem(STORAGE.authorization);
    sessionStorage.removeItem(STORAGE.credential);
    sessionStorage.removeItem(STORAGE.userToken);
    setRefusal(why);
    setLogin(undefined);
  }, []);
  if (login === undefined) return h(LoginForm, { refusal, onLogin: setLogin });
  return h(Dashboard, { login, logout });
}

function LoginForm(props: { refusal: string | undefined; onLogin: (login: Login) => void }) {
  const [credential, setCredential] = useState("");
  const [user, setUser] = useState("");
  const [password, setPassword] = useState("");
  const [userToken, setUserToken] = useState("");
  const [error, setError] = useState(props.refusal);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const authorization = adminAuthorization({ credential, user, password });
    const typed = user === "" ? credential : "";
    // Nothing is shown until the admin API takes the credential.
    new AdminAPI(authorization).get("/api/connections").then(
      () => {
        sessionStorage.setItem(STORAGE.authorization, authorization);
        sessionStorage.setItem(STORAGE.credential, typed);
        sessionStorage.setItem(STORAGE.userToken, userToken);
        props.onLogin({ authorization, credential: typed, userToken });
      },
      (failure: Error) => setError(failure.message),
    );
  };
  const field = (label: string, name: string, value: string, set: (value: string) => void, type = "password") =>
    h("label", null, label, h("input", { type, name, value, onChange: (e: { target: { value: string } }) => set(e.target.value) }));
  return h(
    "form",
    { className: "login", onSubmit: submit, id: "login" },
    h("h1", null, "Switchboard"),
    field("API key or admin token", "credential", credential, setCredential),
    h("p", { className: "muted" }, "or an admin user:"),
    field("User", "user", user, setUser, "text"),
    field("Password", "password", password, setPassword),
    field("User token for the live connection and the collaboration view (optional)", "userToken", userToken, setUserToken),
    h("button", { type: "submit" }, "sign in"),
    error === undefined ? null : h("p", { className: "error", id: "login-error" }, error),
  );
}

interface Toast {
  id: number;
  text: string;
}

function Dashboard(props: { login: Login; logout: (why?: string) => void }) {
  const { login, logout } = props;
  const api = useMemo(() => new AdminAPI(login.authorization), [login.authorization]);
  const client = useMemo(() => {
    // The connection acts as the user when a user token is given; an admin JWT also works, and so does
    // the admin user's name and password the operator signed in with.
    if (login.userToken !== "") return new Switchboard({ url: location.origin, token: login.userToken, name: "dashboard" });
    if (login.credential.split(".").length === 3) return new Switchboard({ url: location.origin, token: login.credential, name: "dashboard" });
    return new Switchboard({ url: location.origin, ...basicCredentials(login.authorization), name: "dashboard" });
  }, [login]);
  useEffect(() => {
    client.connect();
    return () => client.close();
  }, [client]);
  // A credential revoked while the page is open: back to the login.
  useEffect(() => {
    let active = true;
    const timer = setInterval(() => {
      api.get("/api/channels").catch((failure) => {
        if (active && failure instanceof AdminAPIError && (failure.status === 401 || failure.status === 403)) logout(failure.message);
      });
    }, 5000);
    return () => {
      active = false;
      clearInterval(timer);
    };
  }, [api, logout]);

  const [toasts, setToasts] = useState<Toast[]>([]);
  const notify = useCallback((text: string) => {
    const id = Date.now() + Math.random();
    setToasts((list) => [...list.slice(-4), { id, text }]);
    setTimeout(() => setToasts((list) => list.filter((t) => t.id !== id)), 6000);
  }, []);

  const [route, setRoute] = useState(location.hash);
  useEffect(() => {
    const changed = () => setRoute(location.hash);
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  const sessionId = route.startsWith("#collaboration/") ? decodeURIComponent(route.slice("#collaboration/".length)) : undefined;
  const view = route.startsWith("#collaboration") ? "collaboration" : "operator";

  return h(
    SwitchboardProvider,
    { client },
    h(
      "header",
      null,
      h("h1", null, "Switchboard"),
      h("nav", null, h("a", { href: "#operator", className: view === "operator" ? "active" : "" }, "Operator"), h("a", { href: "#collaboration", className: view === "collaboration" ? "active" : "" }, "Collaboration")),
      h(ToastChannel, { notify }),
      h(StatusIndicator, null),
      h("button", { onClick: () => logout(), className: "logout" }, "sign out"),
    ),
    h("main", null, view === "operator" ? h(OperatorView, { api, notify }) : h(SessionPicker, { sessionId, notify })),
    h("div", { className: "toasts", id: "toasts" }, toasts.map((t) => h("div", { className: "toast", key: t.id }, t.text))),
  );
}

/** Connection state, reconnect progress (attempt and a countdown bar) and the live ping RTT. */
function StatusIndicator() {
  const { client, state, latency } = useSwitchboard();
  const [retry, setRetry] = useState<{ attempt: number; delayMs: number; at: number } | undefined>(undefined);
  const [, tick] = useState(0);
  useEffect(() => {
    const offs = [
      client.on("reconnecting", (r) => setRetry({ ...r, at: Date.now() })),
      client.on("connected", () => setRetry(undefined)),
    ];
    return () => offs.forEach((off) => off());
  }, [client]);
  useEffect(() => {
    if (retry === undefined || state === "connected") return;
    const timer = setInterval(() => tick((n) => n + 1), 100);
    return () => clearInterval(timer);
  }, [retry, state]);
  const progress = retry === undefined ? 0 : Math.min(1, (Date.now() - retry.at) / Math.max(1, retry.delayMs));
  return h(
    "div",
    { className: `status ${state}`, id: "status", "data-state": state },
    h("span", { className: "dot" }),
    state,
    state === "connected" && latency !== undefined ? h("span", { id: "latency" }, ` · ${latency.toFixed(0)} ms`) : null,
    retry !== undefined && state !== "connected"
      ? h(
          "span",
          { className: "retry" },
          ` · attempt ${retry.attempt}, ${Math.max(0, (retry.delayMs - (Date.now() - retry.at)) / 1000).toFixed(1)} s `,
          h("progress", { value: progress, max: 1 }),
        )
      : null,
  );
}

/** Toasts for every message on a channel the operator picks (alerts, job done, …). */
function ToastChannel(props: { notify: (text: string) => void }) {
  const { client } = useSwitchboard();
  const [channel, setChannel] = useState(() => sessionStorage.getItem(STORAGE.toasts) ?? "alerts/#");
  const [draft, setDraft] = useState(channel);
  const { notify } = props;
  useEffect(() => {
    if (channel === "") return;
    sessionStorage.setItem(STORAGE.toasts, channel);
    const subscription = client.subscribe(channel);
    const off = subscription.on("message", (m) => {
      const data = m.data as { text?: unknown; message?: unknown } | undefined;
      const text = m.text ?? (typeof data === "object" && data !== null ? String(data.text ?? data.message ?? JSON.stringify(data)) : JSON.stringify(data));
      notify(`${m.channel}: ${text}`);
    });
    return () => {
      off();
      subscription.unsubscribe();
    };
  }, [client, channel, notify]);
  return h(
    "form",
    { className: "toast-channel", onSubmit: (e: FormEvent) => (e.preventDefault(), setChannel(draft)) },
    h("label", null, "alerts on ", h("input", { value: draft, size: 12, name: "toastChannel", onChange: (e: { target: { value: string } }) => setDraft(e.target.value) })),
  );
}

/** The collaboration view's session choice: the caller's sessions (`$sessions/list`) or an id. */
function SessionPicker(props: { sessionId: string | undefined; notify: (text: string) => void }) {
  const { client, state } = useSwitchboard();
  const [sessions, setSessions] = useState<{ id: string; title?: string }[] | string>([]);
  const [draft, setDraft] = useState(props.sessionId ?? "");
  useEffect(() => {
    if (state !== "connected") return;
    let active = true;
    client.rpc("$sessions/list", {}).then(
      (answer) => {
        const body = answer.data as { items?: { id: string; title?: string }[]; error?: { message: string } };
        if (active) setSessions(body.error ? body.error.message : body.items ?? []);
      },
      (failure: Error) => active && setSessions(failure.message),
    );
    return () => {
      active = false;
    };
  }, [client, state]);
  return h(
    "div",
    null,
    h(
      "form",
      { className: "session-picker", onSubmit: (e: FormEvent) => (e.preventDefault(), (location.hash = `#collaboration/${encodeURIComponent(draft)}`)) },
      h("label", null, "session ", h("input", { value: draft, name: "session", onChange: (e: { target: { value: string } }) => setDraft(e.target.value) })),
      h("button", { type: "submit" }, "open"),
      typeof sessions === "string"
        ? h("span", { className: "muted" }, ` ${sessions}`)
        : sessions.map((s) => h("a", { key: s.id, href: `#collaboration/${encodeURIComponent(s.id)}`, className: "chip" }, s.title ?? s.id)),
    ),
    props.sessionId === undefined || props.sessionId === "" ? null : h(CollaborationView, { key: props.sessionId, sessionId: props.sessionId, notify: props.notify }),
  );
}
