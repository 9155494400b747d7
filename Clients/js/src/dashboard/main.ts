/** The dashboard served at `/` by `switchboard serve` (bundled with React 18 into dist/dashboard.js). */
import { createElement } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";

const root = document.getElementById("root");
if (root !== null) createRoot(root).render(createElement(App));
