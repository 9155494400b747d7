// Lets the ESM hooks bundle (which imports "react") use the React 18 UMD build the page loaded
// (Debian's node-react, served by the test's page server under /vendor/): mapped by the page's import map.
const React = window.React;
export default React;
export const { createContext, createElement, useContext, useEffect, useState, useRef, useMemo, useCallback, useSyncExternalStore } = React;
