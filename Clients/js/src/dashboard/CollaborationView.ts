import { createElement as h, useEffect, useRef, useState, type FormEvent } from "react";
import type { Vote } from "../CollaborationSession";
import { useCollaborationSession } from "../react";

/** The collaboration view: one session live through `useCollaborationSession`. */
export function CollaborationView(props: { sessionId: string; notify: (text: string) => void }) {
  const s = useCollaborationSession(props.sessionId, { history: 50 });
  const { notify } = props;
  // A toast when a vote is decided while the view is open (not for results already known at load).
  const announced = useRef<Set<string> | undefined>(undefined);
  useEffect(() => {
    const decided = s.votes.filter((v) => v.result);
    if (announced.current === undefined) {
      if (s.session !== undefined) announced.current = new Set(decided.map((v) => v.id));
      return;
    }
    for (const vote of decided) {
      if (announced.current.has(vote.id)) continue;
      announced.current.add(vote.id);
      notify(`vote decided: "${vote.question}" — ${vote.result?.outcome}${vote.result?.option ? ` (${vote.result.option})` : ""}`);
    }
  }, [s.votes, s.session, notify]);

  const [text, setText] = useState("");
  const [question, setQuestion] = useState("");
  const [options, setOptions] = useState("yes, no");
  const [failure, setFailure] = useState<string | undefined>(undefined);
  const attempt = (action: Promise<unknown>) => action.then(() => setFailure(undefined), (error: Error) => setFailure(error.message));
  const post = (event: FormEvent) => {
    event.preventDefault();
    if (text === "") return;
    void attempt(s.post({ text }).then(() => setText("")));
  };
  const open = (event: FormEvent) => {
    event.preventDefault();
    const choices = options.split(",").map((o) => o.trim()).filter((o) => o !== "");
    void attempt(s.openVote({ question, options: choices }).then(() => setQuestion("")));
  };

  if (s.error !== undefined && s.session === undefined) return h("p", { className: "error", id: "session-error" }, `${s.error.code}: ${s.error.message}`);
  return h(
    "div",
    { className: "collaboration", "data-session": props.sessionId },
    h("h2", null, String(s.session?.title ?? props.sessionId), " ", h("small", { className: "muted" }, String(s.session?.state ?? "loading…"))),
    failure === undefined ? null : h("p", { className: "error" }, failure),
    h(
      "section",
      { className: "grid" },
      h(
        "div",
        { className: "panel" },
        h("h3", null, "Participants"),
        h(
          "ul",
          { id: "participants" },
          s.participants.map((p) =>
            h(
              "li",
              { key: p.user, "data-user": p.user, "data-online": String(p.online) },
              h("span", { className: p.online ? "dot online" : "dot" }),
              p.user,
              p.owner ? " (owner)" : "",
              p.weight !== 1 ? ` ×${p.weight}` : "",
            ),
          ),
        ),
      ),
      h(
        "div",
        { className: "panel" },
        h("h3", null, "Votes"),
        h("div", { id: "votes" }, s.votes.slice().reverse().map((v) => h(VoteCard, { key: v.id, vote: v, cast: (option) => void attempt(s.cast(v.id, option)), close: () => void attempt(s.closeVote(v.id)) }))),
        h(
          "form",
          { onSubmit: open, id: "open-vote" },
          h("input", { placeholder: "question", name: "question", value: question, onChange: (e: { target: { value: string } }) => setQuestion(e.target.value) }),
          h("input", { placeholder: "options, comma-separated", name: "options", value: options, onChange: (e: { target: { value: string } }) => setOptions(e.target.value) }),
          h("button", { type: "submit" }, "open vote"),
        ),
      ),
      h(
        "div",
        { className: "panel" },
        h("h3", null, "Messages"),
        h(
          "ol",
          { id: "messages", className: "feed" },
          s.messages.map((m) => h("li", { key: `${m.epoch}-${m.offset}-${m.source}` }, describeMessage(m.data ?? m.text))),
        ),
        h(
          "form",
          { onSubmit: post, id: "post-message" },
          h("input", { placeholder: "message", name: "text", value: text, onChange: (e: { target: { value: string } }) => setText(e.target.value) }),
          h("button", { type: "submit" }, "send"),
        ),
      ),
      h(
        "div",
        { className: "panel" },
        h("h3", null, "Activity"),
        h(
          "ol",
          { id: "activity", className: "feed" },
          s.activity
            .slice()
            .reverse()
            .map((a, i) => h("li", { key: i }, h("code", null, a.type), " ", a.actor ?? "", a.option ? ` → ${String(a.option)}` : "", a.outcome ? ` ${String(a.outcome)}` : "")),
        ),
      ),
    ),
  );
}

function describeMessage(data: unknown): string {
  if (typeof data === "string") return data;
  if (data !== null && typeof data === "object" && typeof (data as { text?: unknown }).text === "string") return (data as { text: string }).text;
  return JSON.stringify(data);
}

/** A vote: its question, one bar per option (weight cast), cast buttons while open, and its result. */
function VoteCard(props: { vote: Vote; cast: (option: string) => void; close: () => void }) {
  const { vote } = props;
  const tally = new Map((vote.tally ?? []).map((t) => [t.option, t]));
  const total = Math.max(1, ...(vote.tally ?? []).map((t) => t.weight));
  // Ballots are taken until a result: `open` (none yet) and `tallying` (some cast).
  const open = (vote.state === "open" || vote.state === "tallying") && !vote.result;
  return h(
    "div",
    { className: "vote", "data-vote": vote.id, "data-state": vote.state },
    h("div", { className: "question" }, vote.question, h("small", { className: "muted" }, ` ${vote.rule ?? ""} · ${vote.ballots ?? 0} ballots`)),
    vote.options.map((option) => {
      const t = tally.get(option);
      const votes = t?.votes ?? 0;
      return h(
        "div",
        { className: "option", key: option, "data-option": option },
        h("span", { className: "label" }, option),
        h("span", { className: "bar" }, h("span", { style: { width: `${((t?.weight ?? 0) / total) * 100}%` } })),
        h("span", { className: "votes" }, String(votes)),
        open ? h("button", { className: "cast", onClick: () => props.cast(option) }, "vote") : null,
      );
    }),
    vote.result
      ? h("div", { className: "result" }, `${vote.result.outcome}${vote.result.option ? `: ${vote.result.option}` : ""} (${vote.result.reason})`)
      : open
        ? h("button", { className: "close-vote", onClick: props.close }, "close vote")
        : null,
  );
}
